// SPDX-License-Identifier: GPL-2.0-only
//
// json_check FILE [PATH=VALUE]...: exit 0 when FILE holds exactly one JSON
// document (cli/json.hpp's strict reader: RFC 8259, UTF-8) and each dotted
// PATH (object members; array elements by index) has the scalar VALUE
// (strings as they are, numbers as integers or decimals, true, false,
// null).  The CLI tests' validator of every --json output.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "json.hpp"

namespace {

using arborist::cli::json::Value;

std::string scalar(const Value& v)
{
	switch (v.kind) {
	case Value::Kind::null: return "null";
	case Value::Kind::boolean: return v.b ? "true" : "false";
	case Value::Kind::string: return v.s;
	case Value::Kind::number: {
		std::ostringstream s;
		s.precision(17);
		s << v.n;
		return s.str();
	}
	case Value::Kind::array: return "<array of " + std::to_string(v.a.size()) + ">";
	case Value::Kind::object: return "<object>";
	}
	return "?";
}

const Value* at(const Value& root, const std::string& path)
{
	const Value* v = &root;
	std::size_t i = 0;
	while (i <= path.size()) {
		const std::size_t dot = std::min(path.find('.', i), path.size());
		const std::string k = path.substr(i, dot - i);
		if (v->kind == Value::Kind::array) {
			const std::size_t n = std::stoul(k);
			if (n >= v->a.size())
				return nullptr;
			v = &v->a[n];
		} else if (v->kind == Value::Kind::object && v->o.count(k)) {
			v = &v->o.at(k);
		} else {
			return nullptr;
		}
		i = dot + 1;
	}
	return v;
}

} // namespace

int main(int argc, char** argv)
{
	if (argc < 2) {
		std::cerr << "usage: json_check FILE [PATH=VALUE]...\n";
		return 2;
	}
	std::ifstream f(argv[1], std::ios::binary);
	std::stringstream text;
	text << f.rdbuf();
	Value doc;
	try {
		doc = arborist::cli::json::parse(text.str());
	} catch (const std::exception& e) {
		std::cerr << argv[1] << ": not one valid JSON document: " << e.what() << "\n";
		return 1;
	}
	int status = 0;
	for (int i = 2; i < argc; i++) {
		const std::string a = argv[i];
		const std::size_t eq = a.find('=');
		const std::string path = a.substr(0, eq), want = eq == std::string::npos ? "" : a.substr(eq + 1);
		const Value* v = at(doc, path);
		if (!v) {
			std::cerr << argv[1] << ": no " << path << "\n";
			status = 1;
		} else if (scalar(*v) != want) {
			std::cerr << argv[1] << ": " << path << " is '" << scalar(*v) << "', expected '" << want << "'\n";
			status = 1;
		}
	}
	return status;
}
