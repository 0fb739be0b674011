// libvdeplug from Debian's libvdeplug-dev (vdeplug4); it ships no pkg-config file.
#include <libvdeplug.h>
