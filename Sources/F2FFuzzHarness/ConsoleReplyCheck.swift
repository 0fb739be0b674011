import SwitchRuntime
import VDEServer

/// The framing vdeterm and unixcmd rely on, whatever the line was.
enum ConsoleReplyCheck {
    static func check(_ reply: Console.Reply, for line: String) {
        switch reply.action {
        case .endSession, .shutdown:
            precondition(reply.text == Console.endOfSession, "session end without \(Console.endOfSession)")
            return
        case .none:
            break
        }
        precondition(reply.text.hasSuffix(Console.prompt), "reply without a prompt")
        let body = reply.text.dropLast(Console.prompt.count)
        guard !body.isEmpty else { return }  // blank line or comment
        precondition(body.hasSuffix("\n"), "reply body not newline-terminated")
        let lines = body.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard let status = lines.last else { preconditionFailure("reply without a status line") }
        precondition(isStatusLine(status), "bad status line '\(status)' for '\(line)'")
        if lines.first == Substring(Console.dataHeader) {
            // The data block ends with a lone "." just before the status; no line inside may be one.
            precondition(lines.count >= 3 && lines[lines.count - 2] == ".", "data block not closed by '.'")
            precondition(!lines.dropFirst().dropLast(2).contains("."), "a data line is a lone '.'")
        } else {
            precondition(lines.count == 1, "text outside a data block")
        }
    }

    /// `1000 Success` or `1NNN <strerror>`.
    private static func isStatusLine(_ line: Substring) -> Bool {
        let code = line.prefix(4)
        return code.count == 4 && code.first == "1" && code.allSatisfy(\.isASCII) && code.allSatisfy(\.isNumber)
            && line.dropFirst(4).first == " "
    }
}
