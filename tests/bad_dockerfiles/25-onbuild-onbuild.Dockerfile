FROM localhost:5000/busybox
ONBUILD ONBUILD RUN true
