FROM localhost:5000/busybox AS build
FROM Build
