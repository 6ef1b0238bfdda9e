FROM localhost:5000/busybox
SHELL /bin/sh -c
