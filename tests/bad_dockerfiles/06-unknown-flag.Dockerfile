FROM localhost:5000/busybox
COPY --frm=base /a /b
