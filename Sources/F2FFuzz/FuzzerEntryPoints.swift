#if FUZZING
import F2FFuzzHarness
import Glibc

// Built with `-sanitize=fuzzer`: libFuzzer supplies `main` and calls these.

/// Resolved once, before the first input; a data race is impossible (libFuzzer calls
/// the target from one thread) and a global `let` is initialised exactly once anyway.
let selectedHarness: FuzzHarness? = TargetSelection.fromEnvironment()

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    if let value = getenv(TargetSelection.environmentVariable), String(cString: value) == "list" {
        TargetSelection.printTargets()
        exit(0)
    }
    guard let harness = selectedHarness else {
        printError("set \(TargetSelection.environmentVariable) to one of these (name, seed fixture folders):")
        TargetSelection.printTargets()
        exit(2)
    }
    printError("F2FFuzz: target \(harness.name)")
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    // Checked in LLVMFuzzerInitialize; the optional only exists for that message.
    selectedHarness?.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#endif
