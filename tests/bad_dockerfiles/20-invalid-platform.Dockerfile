FROM --platform=linux/arm64/v8/extra localhost:5000/busybox
