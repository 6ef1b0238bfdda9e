FROM localhost:5000/busybox
ENV A=${B
