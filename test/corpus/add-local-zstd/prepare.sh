set -e
mkdir -p t/d && echo z > t/d/z
tar -C t --owner=0 --group=0 --mtime=@1600000000 --zstd -cf zs.tar.zst .
rm -rf t
