FROM localhost:5000/busybox
RUNN echo hi
