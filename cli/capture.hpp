// SPDX-License-Identifier: GPL-2.0-only
//
// arborist capture: boot a kernel under QEMU TCG with nested AMD SVM + NPT,
// run the arborist workload on its KVM, bring back the kvmmmu trace and,
// with --check, give a verdict per workload phase (docs/capture.md).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace arborist::cli {

struct CaptureOptions {
	// The kernel: --kernel + --modules, --deb, or --debian (fetched).
	std::string kernel, modules, deb;
	bool debian = false;
	std::string debian_package; // --debian-package NAME; empty = newest linux-image-6.1.0-*-amd64
	std::string cache = "arborist-cache";
	std::string out = "capture";
	std::string trace;    // --trace FILE: check this capture instead of booting
	bool check = false;
	std::string profile;  // passed to arborist conform; empty = inferred
	std::string qemu = "qemu-system-x86_64";
	std::string workload; // empty = the one built with arborist
	unsigned timeout_s = 900, memory_mb = 1024, buffer_kb = 32768;
};

// Exit status: 0 captured (and, with --check, every phase accepted);
// 1 some violation; 2 bad input, a failed boot or capture, or a trace that
// is not a complete capture of the workload.
int capture(const CaptureOptions& o, std::ostream& out, std::ostream& err);

// The --check part alone: run arborist conform --json on TRACE and print
// one verdict per "arborist-phase:" marker and an overall verdict.
int check_capture(const std::string& trace, const std::string& profile, std::ostream& out, std::ostream& err);

} // namespace arborist::cli
