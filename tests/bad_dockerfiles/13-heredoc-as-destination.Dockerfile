FROM localhost:5000/busybox
COPY a.txt <<EOF
content
EOF
