FROM localhost:5000/busybox
COPY only-a-source
