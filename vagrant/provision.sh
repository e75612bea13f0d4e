#!/bin/sh
# Provision one drover sandbox VM (runs as root inside the VM).
#   $1  the sandbox public key (one OpenSSH line)
#   $2  address=hostname pairs of all nodes, comma separated
# Makes the VM look like a Docker sandbox node: `vagrant` with passwordless
# sudo and the sandbox key, every node in /etc/hosts, and apt with no
# upstream (the repo role points it at the local repo on meta).
set -eu
key=${1:?usage: provision.sh PUBLIC_KEY ADDR=HOST[,ADDR=HOST...]}
hosts=${2:-}

install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
touch /home/vagrant/.ssh/authorized_keys
grep -qxF "$key" /home/vagrant/.ssh/authorized_keys || echo "$key" >> /home/vagrant/.ssh/authorized_keys
chown vagrant:vagrant /home/vagrant/.ssh/authorized_keys
chmod 0600 /home/vagrant/.ssh/authorized_keys

echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant

# ed25519 host key, pinned by the Vagrantfile after `up`
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key

echo "$hosts" | tr ',' '\n' | while IFS='=' read -r addr name; do
    [ -n "$addr" ] || continue
    grep -q "^$addr[[:space:]]" /etc/hosts || printf '%s %s\n' "$addr" "$name" >> /etc/hosts
done
