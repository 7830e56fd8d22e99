// SPDX-License-Identifier: GPL-2.0-only
//
// The support layer (support/arborist/support/): the bounded line reader
// on files, FIFOs and in-memory text, printable(), the JSON writer read
// back by the strict reader of cli/json.hpp, and the option parser bound to
// its command's help table.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "arborist/support/json_writer.hpp"
#include "arborist/support/line_reader.hpp"
#include "arborist/support/options.hpp"
#include "arborist/support/text.hpp"
#include "json.hpp"

namespace {

using namespace arborist;
using support::InputError;
using support::LineReader;
using support::StringSource;

std::vector<std::string> lines_of(const std::string& text, std::size_t max_line, std::size_t chunk = 1)
{
	StringSource src(text, "t.txt");
	LineReader r(src, max_line, chunk);
	std::vector<std::string> out;
	while (const auto l = r.next())
		out.emplace_back(*l);
	return out;
}

std::string error_of(const std::string& text, std::size_t max_line, std::size_t chunk = 1)
{
	try {
		lines_of(text, max_line, chunk);
	} catch (const InputError& e) {
		return e.what();
	}
	return "";
}

std::string temp_path(const std::string& name)
{
	return ::testing::TempDir() + "arborist-support-" + std::to_string(::getpid()) + "-" + name;
}

TEST(LineReader, SplitsLinesWhateverTheChunkSize)
{
	const std::string text = "a\n\nbb\r\nccc\nlast";
	const std::vector<std::string> want{"a", "", "bb", "ccc", "last"};
	for (const std::size_t chunk : {1, 2, 3, 7, 64, 1 << 16})
		EXPECT_EQ(lines_of(text, 16, chunk), want) << "chunk " << chunk;
	EXPECT_TRUE(lines_of("", 16).empty());
	EXPECT_EQ(lines_of("\n", 16), std::vector<std::string>{""});
	EXPECT_EQ(lines_of(std::string("a\0b\n", 4), 16), std::vector<std::string>{std::string("a\0b", 3)});
}

TEST(LineReader, TheLineCapIsExact)
{
	EXPECT_EQ(lines_of("abcd\nabcd", 4), (std::vector<std::string>{"abcd", "abcd"}));
	EXPECT_EQ(error_of("ok\nabcde\n", 4), "t.txt:2: line longer than 4 bytes (the limit)");
	EXPECT_EQ(error_of("ok\nabcde", 4), "t.txt:2: line longer than 4 bytes (the limit)");
	EXPECT_EQ(error_of(std::string(3 << 20, 'x'), 1 << 20, 4096), "t.txt:1: line longer than 1 MiB (the limit)");
}

// A source without newlines is refused after max_line + 1 bytes: reading
// stops there, whatever follows.
TEST(LineReader, AnEndlessLineCostsBoundedReading)
{
	struct Endless final : support::ByteSource {
		std::size_t given = 0;
		std::string name_ = "endless";
		std::size_t read(char* buf, std::size_t cap) override
		{
			std::fill(buf, buf + cap, 'z');
			given += cap;
			return cap;
		}
		const std::string& name() const override { return name_; }
	} src;
	LineReader r(src, 1000, 64);
	EXPECT_THROW(r.next(), InputError);
	EXPECT_LE(src.given, 1001u);
}

TEST(FileSource, RefusesDirectoriesAndNamesTheErrno)
{
	try {
		support::FileSource f(::testing::TempDir());
		FAIL() << "a directory was opened";
	} catch (const InputError& e) {
		EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
		EXPECT_EQ(e.line(), 0u);
	}
	try {
		support::FileSource f(temp_path("no-such-file"));
		FAIL() << "a missing file was opened";
	} catch (const InputError& e) {
		EXPECT_NE(std::string(e.what()).find(": cannot open: No such file or directory"), std::string::npos)
			<< e.what();
	}
	try {
		support::FileSource f(temp_path("bad\x1b[2Jname"));
		FAIL();
	} catch (const InputError& e) {
		EXPECT_EQ(std::string(e.what()).find('\x1b'), std::string::npos) << "a raw ESC in the message";
		EXPECT_NE(std::string(e.what()).find("bad\\x1b[2Jname"), std::string::npos) << e.what();
	}
}

TEST(FileSource, ReadsAFifoLikeAFile)
{
	const std::string path = temp_path("fifo");
	::unlink(path.c_str());
	ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
	std::string text;
	for (int i = 0; i < 20000; i++)
		text += "line " + std::to_string(i) + "\n";
	std::thread writer([&] {
		std::ofstream f(path);
		f << text;
	});
	std::vector<std::string> got;
	{
		support::FileSource src(path);
		LineReader r(src, 64, 16);
		while (const auto l = r.next())
			got.emplace_back(*l);
	}
	writer.join();
	::unlink(path.c_str());
	ASSERT_EQ(got.size(), 20000u);
	EXPECT_EQ(got.back(), "line 19999");
}

TEST(Printable, EscapesWhatATerminalActsOn)
{
	EXPECT_EQ(support::printable("plain text, 1 = 1"), "plain text, 1 = 1");
	EXPECT_EQ(support::printable("a\x1b[31mb\tc\nd\x7f"), "a\\x1b[31mb\\x09c\\x0ad\\x7f");
	EXPECT_EQ(support::printable("\xc2\x9b" "x"), "\\xc2\\x9bx");       // C1 CSI as UTF-8
	EXPECT_EQ(support::printable("\x9b" "x"), "\\x9bx");                // CSI to an 8-bit terminal
	EXPECT_EQ(support::printable("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac"); // UTF-8 passes
	EXPECT_EQ(support::printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");    // a surrogate is not UTF-8
	EXPECT_EQ(support::printable("\xc0\xaf"), "\\xc0\\xaf");             // overlong
	EXPECT_EQ(support::printable("abcdef", 3), "abc...");
	EXPECT_EQ(support::quoted("x\x01"), "'x\\x01'");
}

TEST(JsonWriter, EveryByteStringIsValidJsonAndReadsBack)
{
	// Invalid bytes become \u00XX of their Latin-1 reading; UTF-8 passes.
	EXPECT_EQ(support::json_quote("a\"\\\n\x01\xe9\xc3\xa9"), "\"a\\\"\\\\\\n\\u0001\\u00e9\xc3\xa9\"");
	std::string all;
	for (int c = 0; c < 256; c++)
		all += static_cast<char>(c);
	all += "\xf0\x9f\x8c\xb3\xed\xa0\x80\xf4\x90\x80\x80";
	std::ostringstream out;
	support::JsonWriter w(out);
	w.begin_object().member("all", all).key("list").begin_array().value(1).value(-2L).value(0.5).value(true).null();
	w.begin_object().end_object().end_array().member("inf", 1.0 / 0.0).end_object();
	w.done();
	const cli::json::Value v = cli::json::parse(out.str());
	std::string latin1; // what a reader gets back: every invalid byte as U+00XX
	for (std::size_t i = 0; i < all.size();) {
		const std::size_t n = support::utf8_sequence(all, i);
		if (n) {
			latin1 += all.substr(i, n);
			i += n;
			continue;
		}
		const auto c = static_cast<unsigned char>(all[i++]);
		latin1 += static_cast<char>(0xc0 | (c >> 6));
		latin1 += static_cast<char>(0x80 | (c & 0x3f));
	}
	EXPECT_EQ(v["all"].s, latin1);
	ASSERT_EQ(v["list"].a.size(), 6u);
	EXPECT_EQ(v["list"].a[1].n, -2);
	EXPECT_TRUE(v["inf"].is_null());
}

TEST(JsonReader, IsStrict)
{
	for (const char* bad : {"{\"a\": 01}", "[1.]", "[+1]", "[.5]", "[1e]", "[\"\x01\"]", "[\"\xff\"]",
				"[\"\\ud800\"]", "[\"\\udc00\"]", "{\"a\" 1}", "[1,]", "[1] x", "", "nul"})
		EXPECT_THROW(cli::json::parse(bad), std::runtime_error) << bad;
	EXPECT_THROW(cli::json::parse(std::string(600, '[') + std::string(600, ']')), std::runtime_error);
	EXPECT_EQ(cli::json::parse("[-0.5e+2]").a[0].n, -50);
	EXPECT_EQ(cli::json::parse("\"\\ud83c\\udf33\"").s, "\xf0\x9f\x8c\xb3");
}

} // namespace

namespace {

using arborist::support::CommandHelp;
using arborist::support::OptionParser;

const CommandHelp demo_help = {
	.name = "demo",
	.summary = "",
	.usage = {"[--all] [--out FILE] [--jobs N] ARG..."},
	.description = "",
	.options = {{"--all", "everything"}, {"--out FILE", "where"}, {"--jobs N", "how many"}, {"ARG", "an argument"}},
	.exit_status = "",
	.docs = "",
};

} // namespace

TEST(OptionParser, AcceptsWhatItsHelpListsInBothValueSpellings)
{
	bool all = false;
	std::string out;
	unsigned jobs = 0;
	std::vector<std::string> rest;
	OptionParser p(demo_help);
	p.flag("--all", all);
	p.value("--out", out);
	p.number("--jobs", jobs, 1, 8);
	p.positional(rest);
	EXPECT_EQ(p.parse({"x", "--out=a=b", "--jobs", "3", "--all", "-"}), "");
	EXPECT_TRUE(all);
	EXPECT_EQ(out, "a=b");
	EXPECT_EQ(jobs, 3u);
	EXPECT_EQ(rest, (std::vector<std::string>{"x", "-"}));
	EXPECT_EQ(p.parse({"--all=1"}), "unknown option '--all=1'"); // a flag takes no value
	EXPECT_EQ(p.parse({"--jobs=9"}), "option --jobs: expected a whole number from 1 to 8, got '9'");
}

TEST(OptionParser, ADeclaredOptionMissingFromTheHelpIsAnInternalError)
{
	bool all = false, quiet = false;
	std::string out;
	unsigned jobs = 0;
	OptionParser p(demo_help);
	p.flag("--all", all);
	p.value("--out", out);
	p.number("--jobs", jobs, 1, 8);
	EXPECT_EQ(p.parse({"--all"}), "");
	p.flag("--quiet", quiet);
	const std::string problem = p.parse({"--all"});
	EXPECT_NE(problem.find("internal error"), std::string::npos) << problem;
	EXPECT_NE(problem.find("--quiet is accepted but not in its help"), std::string::npos) << problem;
}

TEST(OptionParser, AnOptionInTheHelpThatIsNotParsedIsAnInternalError)
{
	bool all = false;
	std::string out;
	OptionParser p(demo_help);
	p.flag("--all", all);
	p.value("--out", out);
	const std::string problem = p.parse({});
	EXPECT_NE(problem.find("--jobs is in its help but not accepted"), std::string::npos) << problem;
}
