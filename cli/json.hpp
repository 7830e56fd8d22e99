// SPDX-License-Identifier: GPL-2.0-only
//
// JSON for the command line.
//
// Writing: every --json output goes through support::JsonWriter
// (support/arborist/support/json_writer.hpp: UTF-8-safe escaping of every
// string, invalid bytes as \u00XX of their Latin-1 reading), and every
// document carries the same frame: "tool", "command", "error" (null, or
// {"kind": "usage" | "io", "message": ...}) and "exit_status", so a usage
// or I/O error is still one JSON document on stdout.
//
// Reading: a small JSON reader, enough to read back the report of
// `arborist conform --json` (docs/conformance.md, "Violations") in
// `arborist capture --check`, and strict enough to be the CLI tests'
// validator: RFC 8259 exactly (the number grammar, no raw control
// characters in strings, well-formed UTF-8 everywhere, paired surrogate
// escapes), nesting at most 512 deep.  Numbers are kept as double (line
// numbers and counts stay exact below 2^53).  Errors throw
// std::runtime_error naming the byte offset.
#pragma once

#include <cctype>
#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "arborist/support/json_writer.hpp"

namespace arborist::cli::json {

using support::JsonWriter;

// The frame's opening members: {"tool": "arborist", "command": C, ...
inline void begin_document(JsonWriter& w, std::string_view command)
{
	w.begin_object().member("tool", "arborist").member("command", command);
}

// ... and its closing ones: "error", "exit_status" }.  `error_kind` empty:
// no error.
inline void end_document(JsonWriter& w, int exit_status, std::string_view error_kind = {},
			 std::string_view error_message = {})
{
	w.key("error");
	if (error_kind.empty())
		w.null();
	else
		w.begin_object().member("kind", error_kind).member("message", error_message).end_object();
	w.member("exit_status", exit_status).end_object();
	w.done();
}

// A whole document for a command that stopped before producing results.
inline void error_document(std::ostream& out, std::string_view command, std::string_view kind,
			   std::string_view message, int exit_status)
{
	JsonWriter w(out);
	begin_document(w, command);
	end_document(w, exit_status, kind, message);
}

struct Value {
	enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
	bool b = false;
	double n = 0;
	std::string s;
	std::vector<Value> a;
	std::map<std::string, Value> o;

	// The member `key` of an object, or a null value when absent.
	const Value& operator[](const std::string& key) const
	{
		static const Value none;
		if (kind != Kind::object)
			return none;
		auto it = o.find(key);
		return it == o.end() ? none : it->second;
	}
	bool is_null() const { return kind == Kind::null; }
};

class Parser {
public:
	explicit Parser(std::string_view text) : t_(text) {}

	Value parse()
	{
		for (std::size_t i = 0; i < t_.size();) {
			const std::size_t n = support::utf8_sequence(t_, i);
			if (n == 0) {
				p_ = i;
				fail("not UTF-8");
			}
			i += n;
		}
		Value v = value();
		ws();
		if (p_ != t_.size())
			fail("trailing characters after the JSON value");
		return v;
	}

private:
	[[noreturn]] void fail(const std::string& what) const
	{
		throw std::runtime_error("JSON offset " + std::to_string(p_) + ": " + what);
	}
	void ws()
	{
		while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\r' || t_[p_] == '\t'))
			p_++;
	}
	bool eat(char c)
	{
		ws();
		if (p_ < t_.size() && t_[p_] == c) {
			p_++;
			return true;
		}
		return false;
	}
	void expect(char c)
	{
		if (!eat(c))
			fail(std::string("expected '") + c + "'");
	}
	bool word(std::string_view w)
	{
		if (t_.substr(p_, w.size()) != w)
			return false;
		p_ += w.size();
		return true;
	}

	Value value()
	{
		ws();
		if (p_ >= t_.size())
			fail("unexpected end");
		if (++depth_ > kMaxDepth)
			fail("nested deeper than " + std::to_string(kMaxDepth));
		Value v = value_here();
		depth_--;
		return v;
	}

	Value value_here()
	{
		Value v;
		const char c = t_[p_];
		if (c == '{') {
			p_++;
			v.kind = Value::Kind::object;
			if (eat('}'))
				return v;
			do {
				ws();
				std::string k = string();
				expect(':');
				v.o[std::move(k)] = value();
			} while (eat(','));
			expect('}');
		} else if (c == '[') {
			p_++;
			v.kind = Value::Kind::array;
			if (eat(']'))
				return v;
			do
				v.a.push_back(value());
			while (eat(','));
			expect(']');
		} else if (c == '"') {
			v.kind = Value::Kind::string;
			v.s = string();
		} else if (word("true") || word("false")) {
			v.kind = Value::Kind::boolean;
			v.b = t_[p_ - 1] == 'e' && t_[p_ - 2] == 'u';
		} else if (word("null")) {
			v.kind = Value::Kind::null;
		} else {
			v.kind = Value::Kind::number;
			v.n = number();
		}
		return v;
	}

	// number = [ "-" ] int [ frac ] [ exp ]; int = "0" / digit1-9 *digit
	double number()
	{
		const std::size_t start = p_;
		const auto digit = [&] { return p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9'; };
		const auto digits = [&] {
			if (!digit())
				fail("expected a value");
			while (digit())
				p_++;
		};
		if (p_ < t_.size() && t_[p_] == '-')
			p_++;
		if (p_ < t_.size() && t_[p_] == '0')
			p_++;
		else
			digits();
		if (p_ < t_.size() && t_[p_] == '.') {
			p_++;
			digits();
		}
		if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
			p_++;
			if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-'))
				p_++;
			digits();
		}
		const std::string s(t_.substr(start, p_ - start));
		std::size_t used = 0;
		double d = 0;
		try {
			d = std::stod(s, &used);
		} catch (const std::exception&) {
			used = 0;
		}
		if (used != s.size())
			fail("bad number '" + s + "'");
		return d;
	}

	static void utf8(std::string& out, unsigned cp)
	{
		if (cp < 0x80) {
			out += static_cast<char>(cp);
		} else if (cp < 0x800) {
			out += static_cast<char>(0xc0 | (cp >> 6));
			out += static_cast<char>(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			out += static_cast<char>(0xe0 | (cp >> 12));
			out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
			out += static_cast<char>(0x80 | (cp & 0x3f));
		} else {
			out += static_cast<char>(0xf0 | (cp >> 18));
			out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
			out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
			out += static_cast<char>(0x80 | (cp & 0x3f));
		}
	}

	unsigned hex4()
	{
		if (p_ + 4 > t_.size())
			fail("short \\u escape");
		unsigned v = 0;
		for (int i = 0; i < 4; i++) {
			const char c = t_[p_++];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= static_cast<unsigned>(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= static_cast<unsigned>(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= static_cast<unsigned>(c - 'A' + 10);
			else
				fail("bad \\u escape");
		}
		return v;
	}

	std::string string()
	{
		if (p_ >= t_.size() || t_[p_] != '"')
			fail("expected a string");
		p_++;
		std::string out;
		for (;;) {
			if (p_ >= t_.size())
				fail("unterminated string");
			const char c = t_[p_++];
			if (c == '"')
				return out;
			if (static_cast<unsigned char>(c) < 0x20)
				fail("a raw control character in a string");
			if (c != '\\') {
				out += c;
				continue;
			}
			if (p_ >= t_.size())
				fail("unterminated escape");
			const char e = t_[p_++];
			switch (e) {
			case '"': out += '"'; break;
			case '\\': out += '\\'; break;
			case '/': out += '/'; break;
			case 'b': out += '\b'; break;
			case 'f': out += '\f'; break;
			case 'n': out += '\n'; break;
			case 'r': out += '\r'; break;
			case 't': out += '\t'; break;
			case 'u': {
				unsigned cp = hex4();
				if (cp >= 0xdc00 && cp < 0xe000)
					fail("a low surrogate escape without its high one");
				if (cp >= 0xd800 && cp < 0xdc00) {
					if (!word("\\u"))
						fail("a high surrogate escape without its low one");
					const unsigned lo = hex4();
					if (lo < 0xdc00 || lo >= 0xe000)
						fail("a high surrogate escape without its low one");
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				utf8(out, cp);
				break;
			}
			default: fail(std::string("bad escape '\\") + e + "'");
			}
		}
	}

	static constexpr unsigned kMaxDepth = 512;
	std::string_view t_;
	std::size_t p_ = 0;
	unsigned depth_ = 0;
};

inline Value parse(std::string_view text)
{
	return Parser(text).parse();
}

} // namespace arborist::cli::json
