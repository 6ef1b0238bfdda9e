FROM localhost:5000/busybox
CMD ["echo", 1, true]
