# Sourced by the device scripts: unpacks .device/bundle.tar.xz once and sets the runtime environment.
# NVLink multicast stays off (KINDS.md: using it can put the host's GPUs out of service).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1
EMOE=/tmp/emoe
if [ ! -d $EMOE/bundle ]; then
  mkdir -p $EMOE && tar -C $EMOE -xJf .device/bundle.tar.xz
fi
B=$EMOE/bundle
export JAVA=$B/jre/bin/java
export LD_LIBRARY_PATH=$B/ucx${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export UCX_MODULE_DIR=$B/ucx/ucx
export CP="$B/elasticmoe-worker.jar:$B/test-classes:$(ls $B/lib/*.jar | tr '\n' ':')"
