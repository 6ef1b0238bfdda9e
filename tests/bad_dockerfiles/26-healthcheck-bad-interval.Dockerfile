FROM localhost:5000/busybox
HEALTHCHECK --interval=soon CMD true
