# Sourced by the device scripts: unpacks .device/bundle.tar.xz (or $BUNDLE) once and sets the runtime environment.
# NVLink multicast stays off (KINDS.md: using it can put the host's GPUs out of service).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1
EMOE=/tmp/emoe
# A warm machine keeps /tmp between calls: unpack again whenever the carried bundle is another one.
bundle_file=${BUNDLE:-.device/bundle.tar.xz}
bundle_sum=$(md5sum "$bundle_file" | cut -d' ' -f1)
if [ "$(cat $EMOE/bundle.md5 2>/dev/null)" != "$bundle_sum" ]; then
  rm -rf $EMOE/bundle && mkdir -p $EMOE && tar -C $EMOE -xJf "$bundle_file" && echo "$bundle_sum" > $EMOE/bundle.md5
fi
B=$EMOE/bundle
export JAVA=$B/jre/bin/java
export LD_LIBRARY_PATH=$B/ucx${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export UCX_MODULE_DIR=$B/ucx/ucx
export CP="$B/elasticmoe-worker.jar:$B/test-classes:$(ls $B/lib/*.jar | tr '\n' ':')"
