import CF2FSystem

public enum HeapTuning {
    /// Encrypted links allocate a ~64 KiB buffer per record (the crypto library returns its
    /// output that way). Keep blocks of that size on the heap and the heap from shrinking, or
    /// every record costs an mmap/munmap pair and freshly zeroed pages.
    public static func keepLargeBlocksOnHeap() {
        cf2f_keep_large_blocks_on_heap(4 << 20, 32 << 20)
    }
}
