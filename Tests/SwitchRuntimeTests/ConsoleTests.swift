import Testing
import SwitchRuntime

/// The console's text protocol, without a socket (what vdeterm and unixcmd parse).
@Suite struct ConsoleTests {
    func makeConsole() -> Console {
        let console = Console(banner: "test switch\n")
        console.addMenu(ConsoleMenu("demo", title: "DEMO MENU"))
        console.add(ConsoleCommand("demo/print", syntax: "[N]", help: "print lines", printsData: true) { argument throws(ConsoleError) in
            guard argument != "bad" else { throw .noSuchDeviceOrAddress }
            return ["line one", "arg=\(argument)"]
        })
        console.add(ConsoleCommand("demo/set", syntax: "N", help: "set a number") { argument throws(ConsoleError) in
            guard Int(argument) != nil else { throw .invalidArgument }
            return []
        })
        return console
    }

    @Test func greetingEndsInPrompt() {
        #expect(makeConsole().greeting == "test switch\n\nvde$ ")
    }

    @Test func printingCommandFraming() {
        let reply = makeConsole().execute(line: "demo/print 7\n")
        #expect(reply.text == "0000 DATA END WITH '.'\nline one\narg=7\n.\n1000 Success\n\nvde$ ")
        #expect(reply.action == .none)
    }

    @Test func failingPrintingCommandStillPrintsItsBlock() {
        let reply = makeConsole().execute(line: "demo/print bad")
        #expect(reply.text == "0000 DATA END WITH '.'\n.\n1006 No such device or address\n\nvde$ ")
    }

    @Test func plainCommandSuccessAndError() {
        let console = makeConsole()
        #expect(console.execute(line: "demo/set 3").text == "1000 Success\n\nvde$ ")
        #expect(console.execute(line: "  demo/set   x  ").text == "1022 Invalid argument\n\nvde$ ")
    }

    @Test func unknownCommandsMenusAndBlankLines() {
        let console = makeConsole()
        #expect(console.execute(line: "nonsense").text == "1038 Function not implemented\n\nvde$ ")
        #expect(console.execute(line: "demo").text == "1038 Function not implemented\n\nvde$ ")
        #expect(console.execute(line: "").text == "\nvde$ ")
        #expect(console.execute(line: "# a comment").text == "\nvde$ ")
    }

    @Test func logoutAndShutdown() {
        let console = makeConsole()
        #expect(console.execute(line: "logout") == Console.Reply(text: "9999 END OF SESSION", action: .endSession))
        #expect(console.execute(line: "shutdown") == Console.Reply(text: "9999 END OF SESSION", action: .shutdown))
    }

    @Test func helpIsTheTabularFormatVdetermParses() {
        let text = makeConsole().execute(line: "help").text
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "0000 DATA END WITH '.'")
        #expect(lines[1] == "COMMAND PATH       SYNTAX          HELP")
        #expect(lines[2] == "------------       ------------    ------------")
        let body = lines[3..<(lines.firstIndex(of: ".")!)]
        let paths = body.map { String($0.prefix { $0 != " " }) }
        #expect(paths == ["help", "logout", "shutdown", "demo", "demo/print", "demo/set"])
        #expect(body.contains("demo/print         [N]             print lines"))
    }

    @Test func helpFiltersByPrefix() {
        let text = makeConsole().execute(line: "help demo/s").text
        #expect(text.contains("demo/set"))
        #expect(!text.contains("demo/print"))
    }

    @Test func garbageLinesNeverTrap() {
        let console = makeConsole()
        for line in ["\u{0}\u{1}\u{2}", String(repeating: "x", count: 10_000), "demo/print \u{FFFD}", "   ", "\t\t", "help \u{7F}"] {
            #expect(console.execute(line: line).text.hasSuffix("vde$ "))
        }
    }
}
