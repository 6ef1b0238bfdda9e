# What git cannot hold: symlinks, executable bits, archives with owners.
ln -s file.txt link-to-file
ln -s ../a.conf dir/nested/link
chmod 0750 dir/nested
chmod 0755 other.txt
mkdir -p tarball/inner
printf 'from the archive\n' > tarball/inner/t.txt
ln -s t.txt tarball/inner/t-link
chmod 0640 tarball/inner/t.txt
tar --owner=1000 --group=1000 --numeric-owner -cf archive.tar -C tarball .
tar --owner=0 --group=0 --numeric-owner -czf archive.tar.gz -C tarball inner
rm -rf tarball
