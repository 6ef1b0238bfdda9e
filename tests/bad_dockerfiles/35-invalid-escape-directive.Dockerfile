# escape=x
FROM localhost:5000/busybox
