FROM localhost:5000/busybox
ENV =value
