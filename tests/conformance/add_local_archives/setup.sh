# a.tar.bz2 and a.tar.xz are committed: bzip2 and xz may be missing.
mkdir -p t/in/deep && printf 'tarred\n' > t/in/file && printf 'deep\n' > t/in/deep/d
ln -s file t/in/link
chmod 0750 t/in/deep
tar --owner=1000 --group=1000 --numeric-owner -cf a.tar -C t in
tar --owner=0 --group=0 --numeric-owner -czf a.tar.gz -C t in
cp a.tar.gz a.tgz
printf 'not a tar\n' | gzip -n > plain.gz
printf 'just text\n' > notatar.tar
rm -rf t
