import BaleCore
import Foundation

/// Runs `body` on a new thread; `join()` waits for it and returns its result or rethrows its error.
final class BackgroundTask<T>: @unchecked Sendable {
    // @unchecked Sendable: `result` is written by the thread before `done` is signalled and read after.
    private var result: Result<T, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            self.result = Result { try body() }
            self.done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    func join() throws -> T {
        done.wait()
        done.signal()   // later joins return at once
        guard let result else { throw BaleError(.internal, "background task ended without a result") }
        return try result.get()
    }
}
