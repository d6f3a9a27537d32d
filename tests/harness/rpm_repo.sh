#!/bin/sh
# Builds a tiny rpm repository with an updateinfo.xml and captures dnf's real outputs against an --installroot.
set -eu
# Usage: rpm_repo.sh WORKDIR  (prints WORKDIR/out; dnf, rpmbuild, createrepo_c and modifyrepo_c must be installed)
work=${1:-$(mktemp -d)}
mkdir -p "$work/build" "$work/repo" "$work/root" "$work/out"
spec() { # name version
cat > "$work/build/$1-$2.spec" <<SPEC
Name: $1
Version: $2
Release: 1.el9
Summary: patching test package $1
License: GPL-3.0-or-later
BuildArch: noarch
%description
patching test package
%install
mkdir -p %{buildroot}/usr/share/$1
echo $2 > %{buildroot}/usr/share/$1/VERSION
%files
/usr/share/$1/VERSION
SPEC
rpmbuild --quiet -bb --define "_topdir $work/build/top" --define "_rpmdir $work/rpms" "$work/build/$1-$2.spec" >/dev/null 2>&1
}
for p in apcx-openssl apcx-tool apcx-pinned-library-with-a-rather-long-name; do spec $p 1.0; spec $p 1.1; done
rpm --root "$work/root" --initdb
rpm --root "$work/root" -i --nodeps --ignoreos --ignorearch $(ls "$work"/rpms/noarch/*-1.0-*.rpm)
cp "$work"/rpms/noarch/*-1.1-*.rpm "$work/repo/"
createrepo_c -q "$work/repo"
cat > "$work/updateinfo.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="security@example.invalid" status="final" type="security" version="2.0">
    <id>RHSA-2026:0101</id><title>Important: apcx-openssl security update</title><severity>Important</severity>
    <issued date="2026-11-20 00:00:00"/><description>fixes CVE-2026-0001</description>
    <references><reference href="https://example.invalid/CVE-2026-0001" id="CVE-2026-0001" type="cve"/></references>
    <pkglist><collection short="el9"><name>el9</name>
      <package name="apcx-openssl" version="1.1" release="1.el9" epoch="0" arch="noarch"><filename>apcx-openssl-1.1-1.el9.noarch.rpm</filename></package>
      <package name="apcx-pinned-library-with-a-rather-long-name" version="1.1" release="1.el9" epoch="0" arch="noarch"><filename>apcx-pinned-library-with-a-rather-long-name-1.1-1.el9.noarch.rpm</filename></package>
    </collection></pkglist>
  </update>
  <update from="release@example.invalid" status="final" type="bugfix" version="2.0">
    <id>RHBA-2026:0102</id><title>apcx-tool bug fix update</title><issued date="2026-11-20 00:00:00"/>
    <description>bug fix</description>
    <pkglist><collection short="el9"><name>el9</name>
      <package name="apcx-tool" version="1.1" release="1.el9" epoch="0" arch="noarch"><filename>apcx-tool-1.1-1.el9.noarch.rpm</filename></package>
    </collection></pkglist>
  </update>
</updates>
XML
modifyrepo_c --mdtype=updateinfo "$work/updateinfo.xml" "$work/repo/repodata"
mkdir -p "$work/repos.d"
cat > "$work/repos.d/test.repo" <<REPO
[apcx-test]
name=apcx test
baseurl=file://$work/repo
gpgcheck=0
enabled=1
REPO
dnf_() { dnf -q --installroot="$work/root" --setopt=reposdir="$work/repos.d" --releasever=9 --setopt=install_weak_deps=0 "$@"; }
set +e
dnf_ check-update > "$work/out/dnf-check-update.txt" 2>&1; echo "rc=$?" > "$work/out/dnf-check-update.rc"
dnf_ updateinfo list --security > "$work/out/dnf-updateinfo-list-security.txt" 2>&1; echo "rc=$?" > "$work/out/dnf-updateinfo.rc"
rpm --root "$work/root" -q --qf '%{NAME} %{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\n' apcx-openssl apcx-tool > "$work/out/rpm-query.txt"
echo "$work/out"
