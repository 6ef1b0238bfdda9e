FROM localhost:5000/busybox
FROBNICATE now
