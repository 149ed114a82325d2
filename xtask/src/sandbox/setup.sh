#!/bin/sh
# Boots a private systemd for `cargo xtask test-systemd` (see xtask/src/sandbox.rs and
# /work/shared/REAL-SYSTEMS.md). Run as `sh setup.sh outer` with:
#   TF_SANDBOX_DIR      empty host folder; the sandbox's tmpfs is mounted on it (in its own
#                       mount namespace only)
#   TF_SANDBOX_CGROUPS  newline-separated cgroup.procs files to join before unsharing, so
#                       that the sandbox's systemd builds its cgroup tree below them
#   TF_SANDBOX_SHARE    newline-separated host folders bind-mounted at the same path inside
#
# Nothing in here may write to the host's file systems or kernel settings: every mount is
# made with -n (no /run/mount/utab), /dev and /sys/fs/cgroup are private tmpfs instances
# (systemd creates mount points and symlinks in both and remounts /sys/fs/cgroup read-only),
# /sys and /proc/sys are read-only, and systemd only ever sees the overlay root.
set -eu
nl='
'

case "$1" in
outer)
    IFS=$nl
    for procs in $TF_SANDBOX_CGROUPS; do
        echo $$ >"$procs"
    done
    # --kill-child: if unshare dies, the kernel kills the sandbox's PID 1, and with it the sandbox.
    exec unshare --pid --fork --kill-child --mount --uts --ipc --net --propagation private \
        /bin/sh "$0" inner
    ;;
inner) ;;
*)
    echo "usage: $0 outer" >&2
    exit 2
    ;;
esac

R=$TF_SANDBOX_DIR
# Collect the host's cgroup hierarchies before anything else is mounted.
cgroup_fstype=$(findmnt -n -o FSTYPE /sys/fs/cgroup || true)
hierarchies=$(findmnt -rn -o TARGET -t cgroup,cgroup2 | grep '^/sys/fs/cgroup/' || true)

mount -n -t tmpfs -o mode=0700 tf-sandbox "$R"
mkdir "$R/upper" "$R/work" "$R/root"
mount -n -t overlay overlay -o "lowerdir=/,upperdir=$R/upper,workdir=$R/work" "$R/root"

# /sys: the host's sysfs, read-only (remount,bind changes this mount only, never the host's
# superblock), with a private /sys/fs/cgroup holding binds of the host hierarchies.
mount -n --rbind /sys "$R/root/sys"
mount -n -o remount,bind,ro "$R/root/sys"
if [ "$cgroup_fstype" = tmpfs ]; then
    umount -n -R "$R/root/sys/fs/cgroup"
    mount -n -t tmpfs -o mode=0755,nosuid,nodev,noexec tf-cgroup "$R/root/sys/fs/cgroup"
    IFS=$nl
    for h in $hierarchies; do
        mkdir "$R/root$h"
        mount -n --bind "$h" "$R/root$h"
    done
    unset IFS
fi

# /dev: a private tmpfs with the few host device nodes a service needs, and its own ptys.
D=$R/root/dev
mount -n -t tmpfs -o mode=0755,nosuid tf-dev "$D"
for node in null zero full random urandom tty; do
    touch "$D/$node"
    mount -n --bind "/dev/$node" "$D/$node"
done
touch "$D/console"
mount -n --bind /dev/null "$D/console"
mkdir "$D/pts" "$D/shm" "$D/mqueue"
mount -n -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$D/pts"
ln -s pts/ptmx "$D/ptmx"
mount -n -t tmpfs -o mode=1777,nosuid,nodev tf-shm "$D/shm"
ln -s /proc/self/fd "$D/fd"
ln -s /proc/self/fd/0 "$D/stdin"
ln -s /proc/self/fd/1 "$D/stdout"
ln -s /proc/self/fd/2 "$D/stderr"

# Host folders the tests share (the cargo target dir, the workspace), at the same path.
IFS=$nl
for dir in $TF_SANDBOX_SHARE; do
    mount -n --bind "$dir" "$R/root$dir"
done
unset IFS

# Masked in the overlay: gettys (no logins; they would sit on terminals nobody reads), units
# that can change the host's kernel or superblocks (modules, sysctls, binfmt, remounts per
# /etc/fstab), and the timers the image enables (apt, fstrim, man-db… firing in the middle of
# a test run). Timers that tests start work as usual. Also the image's own Docker engine
# (docker.io enables it): the Docker tests use the private dockerd xtask starts on the host.
E=$R/root/etc/systemd/system
for unit in getty.target console-getty.service getty@.service serial-getty@.service \
    systemd-modules-load.service modprobe@.service systemd-sysctl.service \
    systemd-binfmt.service proc-sys-fs-binfmt_misc.automount systemd-remount-fs.service \
    docker.service docker.socket containerd.service; do
    ln -sf /dev/null "$E/$unit"
done
for timer in "$E"/timers.target.wants/*.timer; do
    [ -e "$timer" ] || [ -L "$timer" ] || continue
    ln -sf /dev/null "$E/${timer##*/}"
done
echo tf-sandbox >"$R/root/etc/hostname"

cd "$R/root"
mkdir -p oldroot
pivot_root . oldroot
mount -n -t proc proc /proc
# Most kernel settings are global: read-only /proc/sys keeps systemd-sysctl from applying the
# image's sysctl.d to the host's kernel (it skips on ConditionPathIsReadWrite=/proc/sys/).
for path in /proc/sys /proc/sysrq-trigger; do
    [ -e "$path" ] || continue
    mount -n --bind "$path" "$path"
    mount -n -o remount,bind,ro "$path"
done
umount -n -l /oldroot
rmdir /oldroot
# Shared propagation inside the sandbox, as systemd sets it up on a host (it skips that in a
# container) and as its container interface asks: the service manager prepares a unit's
# credentials (LoadCredential=) in a mount namespace of its own and relies on propagation to
# put them where the service finds them; with private mounts, $CREDENTIALS_DIRECTORY stays
# empty. The peer groups are new and this namespace's own: nothing propagates to the host,
# whose mounts were made private to us by `unshare --propagation private`.
mount -n --make-rshared /
exec env -i container=unshare PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system --unit=multi-user.target
