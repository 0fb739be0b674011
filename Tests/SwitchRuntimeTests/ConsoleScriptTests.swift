import Testing
import SwitchRuntime

/// Start-up files (`--rcfile`): lines run in order through a console, the first failure stops.
@Suite struct ConsoleScriptTests {
    /// A console whose `demo/set N` records what it was given, in order.
    final class Recorder {
        var values: [Int] = []
    }

    func makeConsole(recording recorder: Recorder) -> Console {
        let console = Console(banner: "test switch\n")
        console.add(ConsoleCommand("demo/set", syntax: "N", help: "set a number") { argument throws(ConsoleError) in
            guard let value = Int(argument) else { throw .invalidArgument }
            recorder.values.append(value)
            return []
        })
        console.add(ConsoleCommand("demo/print", help: "print lines", printsData: true) { _ in ["output nobody reads"] })
        return console
    }

    @Test func blankLinesAndCommentsAreLeftOutAndLinesKeepTheirNumbers() {
        let text = "# set-up\n\n  demo/set 1\r\n\t# indented comment\n   \ndemo/set   2  \nlast"
        #expect(
            ConsoleScript.lines(in: text) == [
                ConsoleScript.Line(number: 3, text: "demo/set 1"),
                ConsoleScript.Line(number: 6, text: "demo/set   2"),
                ConsoleScript.Line(number: 7, text: "last"),
            ])
        #expect(ConsoleScript.lines(in: "").isEmpty)
        #expect(ConsoleScript.lines(in: "\n\n# only comments\n").isEmpty)
    }

    @Test func linesRunInOrderThroughTheConsole() throws {
        let recorder = Recorder()
        let outcome = try ConsoleScript.run("demo/set 3\n# comment\ndemo/print\ndemo/set 1\n", source: "rc", on: makeConsole(recording: recorder))
        #expect(outcome == .completed)
        #expect(recorder.values == [3, 1])
    }

    @Test func theFirstFailingLineStopsTheRestAndIsNamed() {
        let recorder = Recorder()
        let console = makeConsole(recording: recorder)
        #expect(throws: ConsoleScript.Failure(source: "/etc/rc", line: .init(number: 3, text: "demo/set x"), error: .invalidArgument)) {
            try ConsoleScript.run("demo/set 1\n\ndemo/set x\ndemo/set 2\n", source: "/etc/rc", on: console)
        }
        #expect(recorder.values == [1])
        do {
            _ = try ConsoleScript.run("\n# c\nvlan/create 10\n", source: "/etc/rc", on: console)
            Issue.record("an unknown command must fail")
        } catch {
            #expect(error.description == "/etc/rc:3: 'vlan/create 10': 1038 Function not implemented")
        }
    }

    @Test func shutdownAndLogoutEndTheScript() throws {
        let recorder = Recorder()
        let console = makeConsole(recording: recorder)
        #expect(try ConsoleScript.run("demo/set 1\nshutdown\ndemo/set 2\n", source: "rc", on: console) == .shutdown)
        #expect(try ConsoleScript.run("demo/set 3\nlogout\ndemo/set x\n", source: "rc", on: console) == .completed)
        #expect(recorder.values == [1, 3])
    }
}
