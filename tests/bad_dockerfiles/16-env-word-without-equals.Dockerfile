FROM localhost:5000/busybox
ENV A=1 B
