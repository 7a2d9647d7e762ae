#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netvrrp developers; MIT OR Apache-2.0
"""Ansible module netvrrp_apply: see DOCUMENTATION."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: netvrrp_apply
short_description: Make the kernel and the netvrrp runtime follow a netvrrp configuration file
description:
  - Runs C(netvrrp diff --json --exit-code) to find what differs, the kernel's devices and
    addresses, and whether the running runtime runs the file's content (compared by SHA-256;
    a priority or timer edit changes no device, only the runtime).
  - In check mode nothing else runs; C(changed) says whether an apply would change anything.
  - Otherwise, when anything differs, runs C(netvrrp apply --json), which reconciles the
    kernel and starts the runtime or makes the running one reload (hitless).
  - With C(--diff), the text of C(netvrrp diff) (a unified diff of the managed kernel state,
    the operations, and a runtime line) is shown.
  - "Validate a templated file before it lands with C(validate: netvrrp validate -f %s)."
version_added: "0.1.0"
options:
  path:
    description: The configuration file.
    type: path
    default: /etc/network/vrrp.toml
  netns:
    description: Named network namespace to work in (C(netvrrp --netns)).
    type: str
  run_dir:
    description: Run directory of the runtime (C(netvrrp --run-dir)); netvrrp's default when unset.
    type: path
  runtime:
    description:
      - Start or reload the runtime. When false, only the kernel is reconciled
        (C(apply --no-runtime)) and the runtime is not looked at.
    type: bool
    default: true
  binary:
    description: The netvrrp executable (a name looked up in PATH, or a path).
    type: path
    default: netvrrp
supports_check_mode: true
author: netvrrp developers
"""

EXAMPLES = r"""
- name: Apply /etc/network/vrrp.toml
  netvrrp.netvrrp.netvrrp_apply:
    path: /etc/network/vrrp.toml

- name: Kernel only, in a namespace
  netvrrp.netvrrp.netvrrp_apply:
    path: /srv/lab/vrrp.toml
    netns: lab1
    run_dir: /run/netvrrp-lab1
    runtime: false
"""

RETURN = r"""
changes:
  description: The kernel operations that were (or in check mode would be) carried out.
  type: list
  returned: always
runtime:
  description: The runtime section of C(netvrrp diff --json) before the run (running, in_sync, problems, and per router the action apply takes, one of keep, reconfigure, restart, add, remove).
  type: dict
  returned: always
apply:
  description: What C(netvrrp apply --json) printed, when it ran.
  type: dict
  returned: changed and not check mode
"""

import json

from ansible.module_utils.basic import AnsibleModule

# netvrrp's exit codes (netvrrp(8) EXIT STATUS).
EXIT_OK = 0
EXIT_DRIFT = 3


def first_json(text):
    """The first JSON value of a command's output (apply prints its plan first)."""
    start = min([i for i in (text.find("{"), text.find("[")) if i >= 0] or [-1])
    if start < 0:
        raise ValueError("no JSON in the output")
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    return value


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/network/vrrp.toml"),
            netns=dict(type="str"),
            run_dir=dict(type="path"),
            runtime=dict(type="bool", default=True),
            binary=dict(type="path", default="netvrrp"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    binary = p["binary"]
    if "/" not in binary:
        binary = module.get_bin_path(binary, required=True)
    base = [binary]
    if p["netns"]:
        base += ["--netns", p["netns"]]
    if p["run_dir"]:
        base += ["--run-dir", p["run_dir"]]
    # No colour in what the diff mode shows.
    env = {"NO_COLOR": "1"}

    # Without the runtime, compare the kernel only (a runtime that is not running is then no
    # difference).
    only_kernel = [] if p["runtime"] else ["--no-runtime"]
    rc, out, err = module.run_command(
        base + ["diff", "--json", "--exit-code"] + only_kernel + ["-f", p["path"]],
        environ_update=env,
    )
    if rc not in (EXIT_OK, EXIT_DRIFT):
        module.fail_json(msg="netvrrp diff failed: %s" % err.strip(), rc=rc, stdout=out, stderr=err)
    try:
        plan = first_json(out)
    except ValueError as e:
        module.fail_json(msg="netvrrp diff printed no JSON: %s" % e, stdout=out, stderr=err)
    changes = plan.get("changes", [])
    # null with --no-runtime.
    runtime = plan.get("runtime") or {}
    changed = bool(changes)
    if p["runtime"]:
        # Not running: apply would start it. Running another configuration: apply reloads it.
        changed = changed or not runtime.get("running", False) or not runtime.get("in_sync", True)
    result = dict(changed=changed, changes=changes, runtime=runtime)

    if module._diff and changed:
        _, text, _ = module.run_command(
            base + ["diff"] + only_kernel + ["-f", p["path"]], environ_update=env
        )
        if p["runtime"] and not runtime.get("running", False):
            text += "runtime: not running; apply starts it\n"
        result["diff"] = dict(prepared=text)

    if module.check_mode or not changed:
        module.exit_json(**result)

    cmd = base + ["apply", "--json", "-f", p["path"]]
    if not p["runtime"]:
        cmd.append("--no-runtime")
    rc, out, err = module.run_command(cmd, environ_update=env)
    if rc != EXIT_OK:
        module.fail_json(msg="netvrrp apply failed: %s" % err.strip(), rc=rc, stdout=out, stderr=err, **result)
    try:
        result["apply"] = first_json(out)
    except ValueError:
        result["apply"] = dict(stdout=out)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
