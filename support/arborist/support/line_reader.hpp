// SPDX-License-Identifier: GPL-2.0-only
//
// Bounded line input for every command that reads a text file (`arborist
// run`'s scenarios, `arborist conform`'s traces).
//
//   FileSource   opens PATH, or standard input for "-".  Regular files,
//                FIFOs, pipes, character devices and sockets are all read
//                the same way: sequentially in chunks, never by size or
//                seek, so `run <(gen)` and `gen | run -` behave alike.  A
//                directory is refused at open.  Errors carry strerror(errno).
//   StringSource in-memory text (tests, generated input).
//   LineReader   splits a ByteSource into lines without copying them.  A
//                line longer than `max_line` bytes is an error at the
//                line's number, found after reading at most max_line + 1
//                bytes of it, so an input without newlines (/dev/zero)
//                costs bounded memory.  Each byte is scanned once.
//
// Every error is an InputError whose what() is "FILE:LINE: message" (or
// "FILE: message" before any line was read), FILE passed through
// support::printable(), so a caller prints what() as it is.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "arborist/support/text.hpp"

namespace arborist::support {

class InputError : public std::runtime_error {
public:
	// line 0: the error is about the file, not a line of it.
	InputError(const std::string& file, std::uint64_t line, const std::string& message)
		: std::runtime_error(printable(file) + (line ? ":" + std::to_string(line) : std::string()) + ": " +
				     message),
		  file_(file), line_(line), message_(message)
	{
	}
	const std::string& file() const { return file_; }
	std::uint64_t line() const { return line_; }
	const std::string& message() const { return message_; }

private:
	std::string file_;
	std::uint64_t line_;
	std::string message_;
};

// "No such file or directory" for an errno value.
inline std::string errno_text(int e) { return std::strerror(e); }

// A source of bytes.  read() returns up to cap bytes, 0 at the end, and
// throws std::system_error-free InputError on a read error (it knows its
// name; the LineReader adds the line).
class ByteSource {
public:
	virtual ~ByteSource() = default;
	virtual std::size_t read(char* buf, std::size_t cap) = 0;
	// The name messages use: the path, or "<stdin>".
	virtual const std::string& name() const = 0;
};

class FileSource final : public ByteSource {
public:
	// Opens `path` ("-": standard input).  Throws InputError naming the
	// file: "cannot open: No such file or directory", "is a directory".
	explicit FileSource(const std::string& path) : name_(path == "-" ? "<stdin>" : path)
	{
		if (path == "-") {
			fd_ = STDIN_FILENO;
			owned_ = false;
		} else {
			do
				fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
			while (fd_ < 0 && errno == EINTR);
			if (fd_ < 0)
				throw InputError(name_, 0, "cannot open: " + errno_text(errno));
			owned_ = true;
		}
		struct stat st {};
		if (::fstat(fd_, &st) != 0) {
			const int e = errno;
			close_fd();
			throw InputError(name_, 0, "cannot stat: " + errno_text(e));
		}
		if (S_ISDIR(st.st_mode)) {
			close_fd();
			throw InputError(name_, 0, "is a directory, not a file");
		}
	}
	~FileSource() override { close_fd(); }
	FileSource(const FileSource&) = delete;
	FileSource& operator=(const FileSource&) = delete;

	std::size_t read(char* buf, std::size_t cap) override
	{
		for (;;) {
			const ssize_t n = ::read(fd_, buf, cap);
			if (n >= 0)
				return static_cast<std::size_t>(n);
			if (errno != EINTR)
				throw InputError(name_, 0, "read error: " + errno_text(errno));
		}
	}
	const std::string& name() const override { return name_; }

private:
	void close_fd()
	{
		if (owned_ && fd_ >= 0)
			::close(fd_);
		fd_ = -1;
	}

	std::string name_;
	int fd_ = -1;
	bool owned_ = false;
};

class StringSource final : public ByteSource {
public:
	explicit StringSource(std::string text, std::string name = "<string>")
		: text_(std::move(text)), name_(std::move(name))
	{
	}
	std::size_t read(char* buf, std::size_t cap) override
	{
		const std::size_t n = std::min(cap, text_.size() - pos_);
		std::memcpy(buf, text_.data() + pos_, n);
		pos_ += n;
		return n;
	}
	const std::string& name() const override { return name_; }

private:
	std::string text_;
	std::string name_;
	std::size_t pos_ = 0;
};

class LineReader {
public:
	// `max_line`: the longest line accepted, in bytes, without its '\n'.
	// `chunk`: the first buffer size (it grows, doubling, up to
	// max_line + 1 for a long line).
	LineReader(ByteSource& src, std::size_t max_line, std::size_t chunk = std::size_t{64} << 10)
		: src_(src), max_line_(max_line), buf_(std::max<std::size_t>(1, std::min(chunk, max_line + 1)))
	{
	}

	// The next line without its '\n' (and a '\r' before it), or nullopt at
	// the end; a last line without '\n' counts.  The view is valid until
	// the next call.
	std::optional<std::string_view> next()
	{
		for (;;) {
			const std::size_t pending = end_ - begin_;
			const char* b = buf_.data() + begin_;
			const void* nl = scanned_ < pending ? std::memchr(b + scanned_, '\n', pending - scanned_) : nullptr;
			std::size_t len;
			if (nl) {
				len = static_cast<std::size_t>(static_cast<const char*>(nl) - b);
				begin_ += len + 1;
			} else {
				scanned_ = pending;
				if (pending > max_line_)
					fail_long();
				if (!eof_) {
					refill();
					continue;
				}
				if (pending == 0)
					return std::nullopt;
				len = pending;
				begin_ = end_;
			}
			scanned_ = 0;
			line_++;
			if (len > max_line_)
				fail_long();
			if (len > 0 && b[len - 1] == '\r')
				len--;
			return std::string_view(b, len);
		}
	}

	// The number of the line next() returned last (1-based; 0 before).
	std::uint64_t line_number() const { return line_; }
	const std::string& name() const { return src_.name(); }
	std::size_t max_line() const { return max_line_; }

	// An error at the current line: "FILE:LINE: what".
	[[noreturn]] void fail(const std::string& what) const { throw InputError(name(), line_, what); }

private:
	[[noreturn]] void fail_long() const
	{
		throw InputError(name(), line_ + 1, "line longer than " + size_text(max_line_) + " (the limit)");
	}

	static std::string size_text(std::size_t n)
	{
		if (n >= (std::size_t{1} << 20) && n % (std::size_t{1} << 20) == 0)
			return std::to_string(n >> 20) + " MiB";
		if (n >= (std::size_t{1} << 10) && n % (std::size_t{1} << 10) == 0)
			return std::to_string(n >> 10) + " KiB";
		return std::to_string(n) + " bytes";
	}

	void refill()
	{
		if (begin_ > 0) {
			std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
			end_ -= begin_;
			begin_ = 0;
		}
		if (end_ == buf_.size())
			buf_.resize(std::min(buf_.size() * 2, max_line_ + 1));
		std::size_t n = 0;
		try {
			n = src_.read(buf_.data() + end_, buf_.size() - end_);
		} catch (const InputError& e) {
			throw InputError(name(), line_ + 1, e.message());
		}
		end_ += n;
		eof_ = n == 0;
	}

	ByteSource& src_;
	std::size_t max_line_;
	std::vector<char> buf_;
	std::size_t begin_ = 0, end_ = 0;
	std::size_t scanned_ = 0; // bytes after begin_ known to hold no '\n'
	bool eof_ = false;
	std::uint64_t line_ = 0;
};

} // namespace arborist::support
