using System.Data.Common;
using System.Threading.Channels;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Conversations;

/// <summary>A message that passed every check and waits to be written.</summary>
public sealed record NewMessage(
    string Id, ConversationFacts Conversation, Audience Audience, string SenderId, string SenderKind, string SenderName,
    string? ClientMsgId, string Kind, string Body, string? AttachmentId, long CreatedAt, bool Reopen, string? ExceptConnectionId);

/// <summary>
/// A stored message; for a new one in a service conversation also its desk state as committed (the assignee, whether
/// it waits in a queue, whether this message reopened a resolved conversation), so the router need not read it again.
/// </summary>
public sealed record SendResult(MessageDto Message, bool Created, string? AssigneeId = null, bool Waiting = false, bool Reopened = false)
{
    /// <summary>The message as JSON (<see cref="Frames.MessageJson"/>) when the writer already wrote it for the push.</summary>
    public byte[]? MessageJson { get; init; }
}

/// <summary>A receipt watermark to move forward (never back).</summary>
public sealed record Watermark(ConversationFacts Conversation, Audience Audience, string UserId, string UserKind, long ReadSeq, long DeliveredSeq, string? ExceptConnectionId);

/// <summary>
/// Group commit: every message and receipt of this node is written by one loop that takes whatever is waiting
/// (up to <see cref="MaxBatch"/>), writes it in one transaction and commits once — one fsync for many sends —
/// then publishes the events in commit order and only then answers the callers. Sequence numbers are taken
/// inside that transaction, under the conversation's row lock on PostgreSQL and SQLite's write lock, so they are
/// gapless whatever the number of senders and nodes. A batch that fails is retried one write at a time, so a bad
/// write fails alone.
/// <para>
/// The loop runs on a thread of its own with one long-lived connection and the same command objects for every
/// batch: the database calls are synchronous (Microsoft.Data.Sqlite's async methods are anyway), so a commit never
/// holds one of the few thread-pool threads that serve the sockets, and SQLite compiles each statement once
/// instead of once per message. A failure drops the connection; the next batch opens a new one.
/// </para>
/// <para>
/// What follows a commit — building the messages and frames, publishing them, answering the callers — is done by a
/// second loop, batch after batch in commit order, so the writer is already writing the next batch meanwhile: it is
/// the one serial stage of every send, and it does only database work.
/// </para>
/// </summary>
public sealed class MessageWriter(Db db, SqliteCheckpointer checkpointer, Integrations.Outbox outbox, IEventBus bus, TimeProvider clock, ILogger<MessageWriter> logger) : BackgroundService
{
    public const int MaxBatch = 512;

    private readonly Channel<Write> _queue = Channel.CreateBounded<Write>(new BoundedChannelOptions(20_000)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly Channel<List<Write>> _committed = Channel.CreateUnbounded<List<Write>>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private Statements? _statements;

    private abstract class Write
    {
        /// <summary>After commit: the caller's answer and the events to publish, from what the transaction recorded.</summary>
        public abstract RealtimeEvent[] Committed();
        public abstract void Succeed();
        public abstract void Fail(Exception e);
    }

    private sealed class SendWrite(NewMessage message) : Write
    {
        public NewMessage Message { get; } = message;
        public SendResult? Result { get; set; }
        // A new message as stored, and how to address it (set by the transaction).
        public MessageRow? Stored { get; set; }
        public Audience? Audience { get; set; }
        public string? AssigneeId { get; set; }
        public bool Waiting { get; set; }
        public bool Reopened { get; set; }
        public ConversationRow? StateChanged { get; set; }
        public TaskCompletionSource<SendResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override RealtimeEvent[] Committed()
        {
            if (Stored is null)
                return []; // already stored under its client id: Result holds it
            var message = Stored.ToDto();
            // Written once, for the push and for the sender's answer.
            var json = Frames.MessageJson(message);
            Result = new SendResult(message, Created: true, AssigneeId, Waiting, Reopened) { MessageJson = json };
            var pushed = Frames.MessageEvent(json, Audience!, Message.ExceptConnectionId);
            return StateChanged is null ? [pushed] : [pushed, Frames.ConversationEvent(StateChanged.ToPushDto(), Audience!)];
        }

        public override void Succeed() => Done.TrySetResult(Result!);
        public override void Fail(Exception e) => Done.TrySetException(e);
    }

    private sealed class WatermarkWrite(Watermark watermark) : Write
    {
        public Watermark Watermark { get; } = watermark;
        public ReceiptDto? Result { get; set; }
        public bool Moved { get; set; }
        public TaskCompletionSource<ReceiptDto> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override RealtimeEvent[] Committed() =>
            Moved ? [Frames.ReceiptEvent(Result!, Watermark.Audience, Watermark.ExceptConnectionId)] : [];

        public override void Succeed() => Done.TrySetResult(Result!);
        public override void Fail(Exception e) => Done.TrySetException(e);
    }

    /// <summary>
    /// Queues a message (waiting only for room in the queue) and returns the task of its commit: it completes once
    /// the message is committed, or found already stored under its client id. Writes are committed in the order
    /// they were queued.
    /// </summary>
    public async Task<Task<SendResult>> EnqueueAsync(NewMessage message, CancellationToken ct)
    {
        var write = new SendWrite(message);
        await EnqueueAsync(write, ct);
        return write.Done.Task;
    }

    /// <summary>Writes a message; answers after it is committed (or found already stored under its client id).</summary>
    public async Task<SendResult> SendAsync(NewMessage message, CancellationToken ct) => await await EnqueueAsync(message, ct);

    public async Task<ReceiptDto> MarkAsync(Watermark watermark, CancellationToken ct)
    {
        var write = new WatermarkWrite(watermark);
        await EnqueueAsync(write, ct);
        return await write.Done.Task;
    }

    private async Task EnqueueAsync(Write write, CancellationToken ct)
    {
        try
        {
            await _queue.Writer.WriteAsync(write, ct);
        }
        catch (ChannelClosedException)
        {
            throw new ApiException(ErrorCodes.Unavailable, "The server is shutting down; send again shortly.");
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var notified = NotifyAsync();
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Run();
                stopped.TrySetResult();
            }
            catch (Exception e)
            {
                stopped.TrySetException(e);
            }
        })
        { IsBackground = true, Name = "StoreLink message writer" };
        thread.Start();
        return Task.WhenAll(stopped.Task, notified);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private void Run()
    {
        var batch = new List<Write>(MaxBatch);
        try
        {
            // Runs until the queue is completed at shutdown and drained: nothing accepted is left unanswered.
            // Blocking is the point of this thread: it waits for work without taking a thread-pool thread.
            while (_queue.Reader.WaitToReadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult())
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var write))
                    batch.Add(write);
                WriteBatch(batch);
                batch.Clear();
            }
        }
        finally
        {
            DropConnection();
            _committed.Writer.TryComplete();
        }
    }

    /// <summary>
    /// The second loop: for each committed batch, in commit order, builds the answers and frames, publishes the
    /// frames, then answers the callers (ack after commit, pushes before acks as before).
    /// </summary>
    private async Task NotifyAsync()
    {
        await foreach (var writes in _committed.Reader.ReadAllAsync())
        {
            foreach (var write in writes)
            {
                RealtimeEvent[] events;
                try
                {
                    events = write.Committed();
                }
                catch (Exception e)
                {
                    // Committed but not answerable: the caller's retry finds the stored message by its client id.
                    logger.LogError(e, "Building the answer of a committed write failed");
                    write.Fail(e);
                    continue;
                }
                foreach (var e in events)
                    await PublishAsync(e);
            }
            foreach (var write in writes)
                write.Succeed();
        }
    }

    private void WriteBatch(List<Write> batch)
    {
        // One lock order for every batch on every node: conversations by id, then receipts. The sort is stable, so
        // the writes of one conversation keep the order they were queued in.
        var ordered = batch.OrderBy(w => w is SendWrite ? 0 : 1)
            .ThenBy(w => w is SendWrite s ? s.Message.Conversation.Id : ((WatermarkWrite)w).Watermark.Conversation.Id, StringComparer.Ordinal)
            .ToList();
        try
        {
            Commit(ordered);
        }
        catch (Exception e) when (ordered.Count > 1 && e is not DatabaseUnavailableException)
        {
            logger.LogWarning(e, "A batch of {Count} writes failed; writing them one by one", ordered.Count);
            foreach (var write in ordered)
            {
                try
                {
                    Commit([write]);
                }
                catch (Exception single)
                {
                    write.Fail(Translate(single));
                }
            }
        }
        catch (Exception e)
        {
            // One write, or a database that cannot be reached: then writing one by one would only wait longer.
            foreach (var write in ordered)
                write.Fail(Translate(e));
        }
    }

    private void Commit(List<Write> writes)
    {
        try
        {
            var s = _statements ??= new Statements(db.Open());
            using (var transaction = s.Connection.BeginTransaction())
            {
                s.Use(transaction);
                foreach (var write in writes)
                {
                    if (write is SendWrite send)
                        Apply(s, transaction, send);
                    else
                        Apply(s, transaction, (WatermarkWrite)write);
                }
                transaction.Commit();
            }
        }
        catch
        {
            // Whatever broke (a constraint, a lost connection), the next attempt starts on a fresh connection.
            DropConnection();
            throw;
        }
        // Notify only after commit, in commit order: the notifying loop takes it from here.
        _committed.Writer.TryWrite(writes);
        if (!db.Dialect.IsPostgres && checkpointer.TakeTail())
            checkpointer.CheckpointTail(_statements.Connection);
    }

    private void DropConnection()
    {
        _statements?.Dispose();
        _statements = null;
    }

    private async ValueTask PublishAsync(RealtimeEvent e)
    {
        try
        {
            await bus.PublishAsync(e);
        }
        catch (Exception error)
        {
            // The write is committed; clients that miss the push catch up with sync.
            logger.LogError(error, "Publishing an event failed");
        }
    }

    private static Exception Translate(Exception e) => e switch
    {
        ApiException or DatabaseUnavailableException => e,
        _ when SqlDialect.IsUniqueViolation(e) => ApiException.Conflict("The conversation is closed and another one with this store is open; write there."),
        _ => e,
    };

    private const string FindByClientIdSql = $"SELECT {MessageRow.Columns} FROM messages WHERE sender_id = @SenderId AND client_msg_id = @ClientMsgId";

    /// <summary>The writer's connection and its statements, each built once and run with new values for every write.</summary>
    private sealed class Statements : IDisposable
    {
        public Statements(DbConnection connection)
        {
            Connection = connection;
            FindId = Command("SELECT id FROM messages WHERE sender_id = @sender AND client_msg_id = @client", "sender", "client");
            // Also: a customer's message reopens a resolved or pending conversation, and the first message of each side
            // is timed for the SLA clocks; the desk state comes back to address the push and to spare the router a read.
            TakeSeq = Command("""
                UPDATE conversations SET last_seq = last_seq + 1, updated_at = @now,
                    state = CASE WHEN @reopen AND state IN ('resolved', 'pending') THEN 'open' ELSE state END,
                    first_customer_at = CASE WHEN @fromCustomer AND first_customer_at IS NULL THEN @now ELSE first_customer_at END,
                    first_response_at = CASE WHEN @fromStaff AND first_response_at IS NULL AND first_customer_at IS NOT NULL THEN @now ELSE first_response_at END
                WHERE id = @conversation
                RETURNING last_seq, state, assignee_id, watcher_ids, waiting_since
                """, "now", "reopen", "fromCustomer", "fromStaff", "conversation");
            Insert = Command("""
                INSERT INTO messages (id, conversation_id, seq, sender_id, sender_kind, sender_name, client_msg_id, kind, body, created_at)
                VALUES (@id, @conversation, @seq, @sender, @senderKind, @senderName, @client, @kind, @body, @now)
                ON CONFLICT (sender_id, client_msg_id) DO NOTHING
                RETURNING id
                """, "id", "conversation", "seq", "sender", "senderKind", "senderName", "client", "kind", "body", "now");
            Mark = Command("""
                INSERT INTO conversation_members (conversation_id, user_id, user_kind, is_member, read_seq, delivered_seq, joined_at)
                VALUES (@conversation, @user, @userKind, 0, @read, @delivered, @now)
                ON CONFLICT (conversation_id, user_id) DO UPDATE SET
                    read_seq = CASE WHEN excluded.read_seq > conversation_members.read_seq THEN excluded.read_seq ELSE conversation_members.read_seq END,
                    delivered_seq = CASE WHEN excluded.delivered_seq > conversation_members.delivered_seq THEN excluded.delivered_seq ELSE conversation_members.delivered_seq END
                WHERE excluded.read_seq > conversation_members.read_seq OR excluded.delivered_seq > conversation_members.delivered_seq
                RETURNING read_seq, delivered_seq
                """, "conversation", "user", "userKind", "read", "delivered", "now");
            Subscribed = Command(Integrations.Outbox.MessageCreatedSubscribedSql, "org");
        }

        public DbConnection Connection { get; }
        public DbCommand FindId { get; }
        public DbCommand TakeSeq { get; }
        public DbCommand Insert { get; }
        public DbCommand Mark { get; }
        public DbCommand Subscribed { get; }

        private DbCommand Command(string sql, params string[] parameters)
        {
            var command = Connection.CreateCommand();
            command.CommandText = sql;
            foreach (var name in parameters)
            {
                var parameter = command.CreateParameter();
                // With its prefix: Microsoft.Data.Sqlite finds "@now" in one look-up, a bare "now" in four (it tries
                // every prefix, with a string built for each), on every execution.
                parameter.ParameterName = "@" + name;
                command.Parameters.Add(parameter);
            }
            return command;
        }

        public void Use(DbTransaction transaction)
        {
            foreach (var command in new[] { FindId, TakeSeq, Insert, Mark, Subscribed })
                command.Transaction = transaction;
            _subscribed.Clear();
        }

        private readonly Dictionary<string, bool> _subscribed = new(StringComparer.Ordinal);

        /// <summary>
        /// Whether the organization subscribed to <c>message.created</c>, asked once per batch: the batch is one
        /// transaction, and a subscription made while it runs applies from the next batch on.
        /// </summary>
        public bool SubscribedToMessages(string orgId)
        {
            if (!_subscribed.TryGetValue(orgId, out var subscribed))
                _subscribed[orgId] = subscribed = With(Subscribed, orgId).ExecuteScalar() is not (null or DBNull);
            return subscribed;
        }

        public static DbCommand With(DbCommand command, params object?[] values)
        {
            for (var i = 0; i < values.Length; i++)
                command.Parameters[i].Value = values[i] ?? DBNull.Value;
            return command;
        }

        public void Dispose()
        {
            foreach (var command in new[] { FindId, TakeSeq, Insert, Mark, Subscribed })
                command.Dispose();
            Connection.Dispose();
        }
    }

    private void Apply(Statements s, DbTransaction t, SendWrite write)
    {
        // A write retried alone after its batch failed starts clean.
        (write.Result, write.Stored, write.Reopened, write.StateChanged) = (null, null, false, null);
        var m = write.Message;
        var conversationId = m.Conversation.Id;
        if (m.ClientMsgId is not null && Statements.With(s.FindId, m.SenderId, m.ClientMsgId).ExecuteScalar() is not (null or DBNull))
        {
            write.Result = new SendResult(s.Connection.QuerySingle<MessageRow>(FindByClientIdSql, m, t).ToDto(), Created: false);
            return;
        }

        // A customer's message to a conversation that was resolved or pending when the send was checked: whether it
        // still is decides here, under the conversation's lock, so of several pipelined sends only the first reopens.
        var previous = m.Reopen
            ? s.Connection.ExecuteScalar<string>($"SELECT state FROM conversations WHERE id = @conversationId{(db.Dialect.IsPostgres ? " FOR UPDATE" : "")}", new { conversationId }, t)
            : null;
        long seq;
        string state, watchers;
        string? assignee;
        bool waiting;
        using (var taken = Statements.With(s.TakeSeq, m.CreatedAt, m.Reopen, m.SenderKind == "customer", m.SenderKind == "staff", conversationId).ExecuteReader())
        {
            if (!taken.Read())
                throw ApiException.NotFound("The conversation");
            (seq, state, assignee, watchers, waiting) = (taken.GetInt64(0), taken.GetString(1), taken.IsDBNull(2) ? null : taken.GetString(2), taken.GetString(3), !taken.IsDBNull(4));
        }
        var inserted = Statements.With(s.Insert, m.Id, conversationId, seq, m.SenderId, m.SenderKind, m.SenderName, m.ClientMsgId, m.Kind, m.Body, m.CreatedAt).ExecuteScalar();
        if (inserted is null or DBNull)
        {
            // Another node stored the same client id between our look-up and our insert: give the seq back
            // (we still hold the conversation's lock, so nobody took a later one) and answer the stored message.
            s.Connection.Execute("UPDATE conversations SET last_seq = last_seq - 1 WHERE id = @conversationId", new { conversationId }, t);
            write.Result = new SendResult(s.Connection.QuerySingle<MessageRow>(FindByClientIdSql, m, t).ToDto(), Created: false);
            return;
        }
        if (m.AttachmentId is not null)
            s.Connection.Execute("INSERT INTO message_attachments (message_id, attachment_id) VALUES (@Id, @AttachmentId)", m, t);
        // The sender has read what they wrote (the server and bots keep no watermarks).
        if (m.SenderKind is "customer" or "staff")
            Statements.With(s.Mark, conversationId, m.SenderId, m.SenderKind, seq, seq, m.CreatedAt).ExecuteNonQuery();

        var stored = new MessageRow
        {
            Id = m.Id, ConversationId = conversationId, Seq = seq, SenderId = m.SenderId, SenderKind = m.SenderKind, SenderName = m.SenderName,
            ClientMsgId = m.ClientMsgId, Kind = m.Kind, Body = m.Body, CreatedAt = m.CreatedAt,
        };
        // Outbound webhooks: message.created into the outbox, in this transaction, when the organization subscribed.
        if (m.Conversation.Kind == ConversationKinds.Service && s.SubscribedToMessages(m.Conversation.OrgId))
            outbox.MessageCreated(s.Connection, t, m.Conversation, stored.ToDto());
        write.Stored = stored;
        // The audience as committed: an assignment that changed since the send was checked counts.
        write.Audience = m.Conversation.Kind == ConversationKinds.Service
            ? m.Conversation.Audience(null, assignee, ConversationRow.ParseWatchers(watchers))
            : m.Audience;
        (write.AssigneeId, write.Waiting) = (assignee, waiting);
        write.Reopened = previous == "resolved";
        if (previous is "resolved" or "pending" && state == "open")
            write.StateChanged = s.Connection.QuerySingle<ConversationRow>($"SELECT {ConversationRow.Columns} FROM conversations WHERE id = @conversationId", new { conversationId }, t);
    }

    private void Apply(Statements s, DbTransaction t, WatermarkWrite write)
    {
        var w = write.Watermark;
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        (long Read, long Delivered)? moved = null;
        using (var reader = Statements.With(s.Mark, w.Conversation.Id, w.UserId, w.UserKind, w.ReadSeq, Math.Max(w.DeliveredSeq, w.ReadSeq), now).ExecuteReader())
            if (reader.Read())
                moved = (reader.GetInt64(0), reader.GetInt64(1));
        var (read, delivered) = moved ?? s.Connection.QuerySingle<(long, long)>(
            "SELECT read_seq, delivered_seq FROM conversation_members WHERE conversation_id = @conversationId AND user_id = @userId",
            new { conversationId = w.Conversation.Id, userId = w.UserId }, t);
        write.Result = new ReceiptDto(w.Conversation.Id, w.UserId, read, delivered);
        write.Moved = moved is not null;
    }
}
