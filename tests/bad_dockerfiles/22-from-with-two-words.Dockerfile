FROM localhost:5000/busybox builder
