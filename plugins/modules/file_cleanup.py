#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: file_cleanup
short_description: Remove old temporary and cache files safely, by age and size budget
version_added: 0.1.0
description:
  - Removes files below each of O(paths) that match O(patterns), are not excluded by O(excludes), and are older than
    O(age); with O(max_size), then removes further matching files, oldest first, until the directory fits the budget.
  - "Safety: the root path itself is never removed; system directories (C(/), C(/etc), C(/usr), C(/var) ...) are
    refused, also through a symlink; the tree is walked and every entry removed relative to open directory
    descriptors, never through a symlink, so a directory swapped for a symlink during the run is never followed;
    symlinks inside the tree are never followed (with O(symlinks=true) the link itself is removed); other
    filesystems and bind mounts inside the tree are not entered unless O(cross_filesystems=true); right before its
    removal each file is looked up again and kept if it was replaced, written or touched since the scan (counted as
    C(changed_since_scan)); files a process holds open are skipped (O(skip_open)); an entry that cannot be removed
    is reported in C(errors) and the run goes on."
  - In check mode the files that would go are listed and nothing is removed.
extends_documentation_fragment:
  - autopilotcx.maintenance.attributes
  - autopilotcx.maintenance.checks
options:
  paths:
    description: Absolute directories to clean (their contents, never the directories themselves). Must not be empty.
    type: list
    elements: path
    required: true
  age:
    description:
      - Minimum age of a file to remove, a duration such as C(7d), C(12h) or C(1h30m). A bare number is seconds.
      - At least one of O(age) and O(max_size) is required.
    type: str
  age_from:
    description: Timestamp the age is measured from.
    type: str
    choices: [mtime, atime, ctime]
    default: mtime
  patterns:
    description: Shell patterns matched against the file name or its path relative to the root.
    type: list
    elements: str
    default: ['*']
  excludes:
    description: Shell patterns of files and directories to keep (matched like O(patterns)); an excluded directory is not entered.
    type: list
    elements: str
    default: []
  max_size:
    description: Size budget of each path (C(500M), C(2G), bytes); oldest matching files go first until the tree fits.
    type: str
  recurse:
    description: Descend into subdirectories.
    type: bool
    default: true
  cross_filesystems:
    description:
      - Enter filesystems mounted inside the tree, bind mounts included (a bind mount is told apart by its mount ID,
        as it has the same device number as its source).
    type: bool
    default: false
  symlinks:
    description: Remove matching symlinks themselves (never their targets).
    type: bool
    default: false
  skip_open:
    description: Skip files some process holds open (read from C(/proc/*/fd)).
    type: bool
    default: true
  hidden:
    description: Include files and directories whose name starts with a dot.
    type: bool
    default: true
  remove_empty_dirs:
    description: Remove directories left empty (older than O(age) when set); never the root path.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Lists what would be removed and removes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - AutopilotCX operations engineering (@autopilotcx)
notes:
  - Reports per path C(file_cleanup.removed) and, with O(max_size), C(file_cleanup.size) (warning while the directory is still over budget).
seealso:
  - module: autopilotcx.maintenance.session_cleanup
  - module: ansible.builtin.find
'''

EXAMPLES = r'''
---
- name: Temporary files older than a week; the application cache kept under 2 GiB
  autopilotcx.maintenance.file_cleanup:
    paths: [/var/tmp/app, /srv/app/cache]
    age: 7d
    max_size: 2G
    excludes: ['*.lock', '.keep']
    remove_empty_dirs: true
  register: cleaned

- name: Report
  ansible.builtin.assert:
    that: cleaned.status != 'critical'
    success_msg: "freed {{ cleaned.bytes_freed }} bytes"
'''

RETURN = r'''
removed:
  description: Files removed over all paths.
  returned: always
  type: int
  sample: 42
bytes_freed:
  description: Bytes freed over all paths.
  returned: always
  type: int
  sample: 1048576
would_remove:
  description: In check mode, files that would be removed.
  returned: always
  type: int
  sample: 0
would_free:
  description: In check mode, bytes that would be freed.
  returned: always
  type: int
  sample: 0
paths:
  description:
    - Per path outcome (files listed up to 1000, counts of files left alone and why, errors, size before and after).
    - C(left_alone.changed_since_scan) counts files kept because they were replaced, written or touched after the scan
      chose them; C(left_alone.vanished) files some other process removed first.
  returned: always
  type: list
  elements: dict
  sample: [{directory: /var/tmp/app, root: /var/tmp/app, removed: 42, bytes_freed: 1048576,
            files: [{path: /var/tmp/app/x.tmp, bytes: 10, reason: age}],
            left_alone: {open: 1, excluded: 2, other_filesystem: 0, symlink: 0, hidden: 0, changed_since_scan: 0,
                         vanished: 0}, errors: []}]
checks:
  description: The checks, in the collection's result model.
  returned: always
  type: list
  elements: dict
  sample: [{name: file_cleanup.removed, status: ok, value: 42, unit: files, threshold: null, priority: low,
            reason: "removed 42 file(s), freed 1.0 MB", target: /var/tmp/app}]
status:
  description: The worst status of all checks, from least to most severe C(ok), C(unknown), C(warning), C(critical);
    C(ok) when there is no check.
  returned: always
  type: str
  sample: ok
counts:
  description: Number of checks per status; every status (C(ok), C(unknown), C(warning), C(critical)) is present.
  returned: always
  type: dict
  sample: {ok: 2, warning: 0, critical: 0, unknown: 0}
failed_checks:
  description: The checks at C(warning) or C(critical), in the order of RV(checks), each as its name followed by its
    target in parentheses when it has one; checks at C(unknown) are not listed.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autopilotcx.maintenance.plugins.module_utils.core.module_support import check_argument_spec, finish, run
from ansible_collections.autopilotcx.maintenance.plugins.module_utils.housekeeping import file_cleanup


def main():
    module = AnsibleModule(
        argument_spec=check_argument_spec(
            paths=dict(type='list', elements='path', required=True),
            age=dict(type='str'), age_from=dict(type='str', default='mtime', choices=['mtime', 'atime', 'ctime']),
            patterns=dict(type='list', elements='str', default=['*']),
            excludes=dict(type='list', elements='str', default=[]),
            max_size=dict(type='str'), recurse=dict(type='bool', default=True),
            cross_filesystems=dict(type='bool', default=False), symlinks=dict(type='bool', default=False),
            skip_open=dict(type='bool', default=True), hidden=dict(type='bool', default=True),
            remove_empty_dirs=dict(type='bool', default=False),
        ),
        required_one_of=[('age', 'max_size')],
        supports_check_mode=True,
    )
    report = run(module, file_cleanup.run, module.params, module.check_mode)
    finish(module, report)


if __name__ == '__main__':
    main()
