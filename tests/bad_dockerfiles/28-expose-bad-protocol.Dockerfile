FROM localhost:5000/busybox
EXPOSE 80/quic
