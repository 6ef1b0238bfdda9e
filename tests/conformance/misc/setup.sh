ln -s d1 link-to-dir
mkdir -p t && printf 'in tar\n' > t/x && tar -cf stage.tar -C t x && rm -rf t
