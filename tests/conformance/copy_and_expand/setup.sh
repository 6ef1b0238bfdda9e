mkdir -p t/deep
printf 'tarred\n' > t/deep/x
tar --owner=1000 --group=1000 --numeric-owner -cf owned.tar -C t deep
rm -rf t
