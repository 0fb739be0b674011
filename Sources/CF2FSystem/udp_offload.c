#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include "CF2FSystem.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

_Static_assert(CMSG_SPACE(sizeof(uint16_t)) <= CF2F_UDP_CONTROL_SPACE, "UDP_SEGMENT control message");
_Static_assert(CMSG_SPACE(sizeof(int)) <= CF2F_UDP_CONTROL_SPACE, "UDP_GRO control message");

size_t cf2f_udp_segment_control(void *control, uint16_t segment_size) {
    memset(control, 0, CMSG_SPACE(sizeof segment_size));
    struct cmsghdr *header = (struct cmsghdr *)control;
    header->cmsg_level = SOL_UDP;
    header->cmsg_type = UDP_SEGMENT;
    header->cmsg_len = CMSG_LEN(sizeof segment_size);
    memcpy(CMSG_DATA(header), &segment_size, sizeof segment_size);
    return CMSG_SPACE(sizeof segment_size);
}

int cf2f_udp_gro_segment_size(const struct msghdr *message) {
    if (message->msg_controllen < sizeof(struct cmsghdr)) return 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(message); header != NULL; header = CMSG_NXTHDR((struct msghdr *)message, header)) {
        if (header->cmsg_level != SOL_UDP || header->cmsg_type != UDP_GRO) continue;
        if (header->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int size;
            memcpy(&size, CMSG_DATA(header), sizeof size);
            return size;
        }
        if (header->cmsg_len >= CMSG_LEN(sizeof(uint16_t))) {
            uint16_t size;
            memcpy(&size, CMSG_DATA(header), sizeof size);
            return size;
        }
    }
    return 0;
}

int cf2f_enable_udp_gro(int fd) {
    int on = 1;
    return setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on);
}
