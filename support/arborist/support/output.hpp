// SPDX-License-Identifier: GPL-2.0-only
//
// The end of every command: a report that could not be written (a full
// disk, a closed pipe with SIGPIPE ignored, a revoked terminal) must not
// end in exit status 0.  finish_output() flushes std::cout / std::cerr and
// the C streams under them and checks every error flag they kept during
// the run, since a failed write in the middle leaves the stream failed but
// says nothing at the time.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

namespace arborist::support {

// The exit status to return from main(): `status` when standard output
// and standard error were written completely, otherwise `io_status` (a
// message goes to standard error, if that still works).
inline int finish_output(int status, const char* program = "arborist", int io_status = 2)
{
	// std::cout.flush() flushes stdout itself (stdio-synchronised
	// streams), so errno after it is the write's.
	errno = 0;
	std::cout.flush();
	const bool out_flushed = std::fflush(stdout) == 0;
	const int out_errno = errno;
	const bool out_ok = out_flushed && !std::ferror(stdout) && std::cout.good();
	std::cerr.flush();
	const bool err_ok = std::fflush(stderr) == 0 && !std::ferror(stderr) && std::cerr.good();
	if (out_ok && err_ok)
		return status;
	if (!out_ok && err_ok) {
		std::fprintf(stderr, "%s: error writing standard output%s%s; the output is incomplete\n", program,
			     out_errno ? ": " : "", out_errno ? std::strerror(out_errno) : "");
		std::fflush(stderr);
	}
	return io_status;
}

} // namespace arborist::support
