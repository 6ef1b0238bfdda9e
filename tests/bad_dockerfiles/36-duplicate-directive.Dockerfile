# escape=`
# escape=\\
FROM localhost:5000/busybox
