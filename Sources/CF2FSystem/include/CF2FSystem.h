// Linux interfaces that Swift's Glibc module does not export: epoll, eventfd, signalfd and
// the _GNU_SOURCE calls (recvmmsg, sendmmsg, accept4). The header itself must not define
// _GNU_SOURCE (its types would then clash with Glibc's), so `struct mmsghdr` is mirrored.
#ifndef CF2FSYSTEM_H
#define CF2FSYSTEM_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>

struct cf2f_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

int cf2f_recvmmsg(int fd, struct cf2f_mmsghdr *messages, unsigned int count, int flags);
int cf2f_sendmmsg(int fd, struct cf2f_mmsghdr *messages, unsigned int count, int flags);
int cf2f_accept4(int fd, int flags);
/* UDP segmentation offload (friend links over UDP): room for one control message of either
   kind; the UDP_SEGMENT message for one sendmsg of equal-sized datagrams, written into
   `control`, its length returned; the gso_size of a datagram received coalesced (UDP_GRO),
   0 when it came alone; turning UDP_GRO on (0, or -1 with errno). */
#define CF2F_UDP_CONTROL_SPACE 32
size_t cf2f_udp_segment_control(void *control, uint16_t segment_size);
int cf2f_udp_gro_segment_size(const struct msghdr *message);
int cf2f_enable_udp_gro(int fd);
/* Heap tuning for a long-running process that reuses large buffers (mallopt). */
void cf2f_keep_large_blocks_on_heap(int mmap_threshold, int trim_threshold);
/* A handle on `name` inside `dirfd` itself, never what a symbolic link there points to
   (openat with O_PATH | O_NOFOLLOW): works for sockets, which open() refuses. */
int cf2f_open_entry_nofollow(int dirfd, const char *name);
/* fchownat(fd, "", owner, group, AT_EMPTY_PATH): changes the very file `fd` refers to. */
int cf2f_change_owner_of_handle(int fd, uid_t owner, gid_t group);
/* SO_PEERCRED of a connected unix socket (struct ucred is _GNU_SOURCE only). */
int cf2f_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid);
/* open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC): a handle on the file itself, a symlink included. */
int cf2f_open_path_nofollow(const char *path);

#endif
