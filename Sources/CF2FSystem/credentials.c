#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/socket.h>
#include "CF2FSystem.h"

int cf2f_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

int cf2f_open_path_nofollow(const char *path) {
    return open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}
