using System.Data.Common;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Workflows;

namespace StoreLink.Server.Integrations;

public sealed class CommandRow
{
    public const string Columns = "id, connector_id, org_id, work_item_id, customer_id, action_id, command_type, action, labels, from_state, payload, status, " +
        "attempts, next_attempt_at, retry_until, delay_told, last_status, last_error, last_attempt_at, message, result, applied, created_at, finished_at";

    public string Id { get; set; } = "";
    public string ConnectorId { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string WorkItemId { get; set; } = "";
    public string CustomerId { get; set; } = "";
    public string ActionId { get; set; } = "";
    public string CommandType { get; set; } = "";
    public string Action { get; set; } = "{}";
    public string Labels { get; set; } = "{}";
    public string FromState { get; set; } = "";
    public string Payload { get; set; } = "{}";
    public string Status { get; set; } = "pending";
    public long Attempts { get; set; }
    public long NextAttemptAt { get; set; }
    public long RetryUntil { get; set; }
    public long DelayTold { get; set; }
    public long? LastStatus { get; set; }
    public string? LastError { get; set; }
    public long? LastAttemptAt { get; set; }
    public string? Message { get; set; }
    public string? Result { get; set; }
    public long Applied { get; set; }
    public long CreatedAt { get; set; }
    public long? FinishedAt { get; set; }

    public bool Open => Status is "pending" or "accepted";

    public CustomerActionRequest Request => JsonSerializer.Deserialize<CustomerActionRequest>(Action, ProtocolJson.Options)!;

    public string Label(string language) => (JsonSerializer.Deserialize<Dictionary<string, string>>(Labels) ?? []) is var labels
        && (labels.GetValueOrDefault(language) ?? labels.GetValueOrDefault(Texts.DefaultLanguage)) is { } label ? label : CommandType;

    public ConnectorCommandDto ToDto(IReadOnlyList<ConnectorCommandAttemptDto> attempts) => new(Id, ConnectorId, CommandType, WorkItemId, Status, (int)Attempts,
        Applied != 0, Message, Result is null ? null : JsonDocument.Parse(Result).RootElement.Clone(), JsonDocument.Parse(Payload).RootElement.Clone(),
        DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), Status == "pending" ? DateTimeOffset.FromUnixTimeMilliseconds(NextAttemptAt) : null,
        FinishedAt is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null, attempts);
}

/// <summary>
/// Customer actions that the item's own system must carry out — a new delivery address, approving a quote or extra
/// work with its price — on items driven by a connector with <c>commands: true</c>. The action is not applied at once:
/// it is written as a command (one open command per action, so a double tap sends one) and sent by the
/// <see cref="CommandDispatcher"/>. It is applied, through the customer-action path, only in the transaction that
/// moves the command from open to <c>done</c>, so it is applied at most once whatever the retries and late answers.
/// </summary>
public sealed class ConnectorCommands(Db db, Access access, IOptionsMonitor<ConnectorOptions> options, TimeProvider clock)
{
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    internal ChannelReader<bool> Wakes => _wake.Reader;

    public void Wake() => _wake.Writer.TryWrite(true);

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Writes the command for the customer's action if the item's system takes commands; false when it does not (the
    /// action is applied at once, as without a connector). An open command for the same action makes this one a repeat.
    /// </summary>
    public async Task<bool> SubmitAsync(CurrentUser customer, WorkItemRow item, string actionId, string action, object data, CustomerActionRequest request,
        Dictionary<string, string> labels, CancellationToken ct)
    {
        if (item.ExternalSystem is null || item.ExternalId is null)
            return false;
        var connector = await db.QuerySingleOrDefaultAsync<ConnectorRow>($"""
            SELECT {ConnectorRow.Columns} FROM connectors WHERE org_id = @OrgId AND connector_key = @ExternalSystem AND active = 1 AND commands = 1
            """, item, ct);
        if (connector is null)
            return false;
        var now = clock.GetUtcNow();
        var row = new CommandRow
        {
            Id = Ids.New("cmd", clock), ConnectorId = connector.Id, OrgId = item.OrgId, WorkItemId = item.Id, CustomerId = customer.Id, ActionId = actionId,
            CommandType = $"work_item.{action}", Action = JsonSerializer.Serialize(request, ProtocolJson.Options), Labels = JsonSerializer.Serialize(labels),
            FromState = item.State, NextAttemptAt = now.ToUnixTimeMilliseconds(), RetryUntil = (now + options.CurrentValue.CommandRetryPeriod).ToUnixTimeMilliseconds(),
            CreatedAt = now.ToUnixTimeMilliseconds(),
        };
        // The exact bytes sent on every attempt, fixed now.
        row.Payload = JsonSerializer.Serialize(new
        {
            id = row.Id, type = row.CommandType, created_at = now,
            work_item = new { id = item.Id, external_id = item.ExternalId, kind = item.Kind, state = item.State }, data,
        }, ProtocolJson.Options);
        await db.ExecuteAsync("""
            INSERT INTO connector_commands (id, connector_id, org_id, work_item_id, customer_id, action_id, open_key, command_type, action, labels, from_state,
                payload, status, next_attempt_at, retry_until, created_at)
            VALUES (@Id, @ConnectorId, @OrgId, @WorkItemId, @CustomerId, @ActionId, @ActionId, @CommandType, @Action, @Labels, @FromState,
                @Payload, 'pending', @NextAttemptAt, @RetryUntil, @CreatedAt)
            ON CONFLICT (work_item_id, open_key) DO NOTHING
            """, row, ct);
        Wake();
        return true;
    }

    /// <summary>
    /// Inside the transaction that applies the action: the command moves from open (or given up) to done. Only one
    /// transaction can do that, so only one applies the action.
    /// </summary>
    public async Task<bool> ClaimAsync(DbConnection c, DbTransaction t, CommandRow command) =>
        await c.ExecuteAsync("""
            UPDATE connector_commands SET status = 'done', applied = 1, open_key = NULL, result = @Result, finished_at = @now
            WHERE id = @Id AND status IN ('pending', 'accepted', 'failed')
            """, new { command.Id, command.Result, now = Now }, t) == 1;

    /// <summary>Ends a command without applying it (refused, given up, or done by the system but no longer applicable); false when it had ended.</summary>
    public async Task<bool> FinishAsync(CommandRow command, string status, string? message, CancellationToken ct) =>
        await db.ExecuteAsync($"""
            UPDATE connector_commands SET status = @status, open_key = NULL, message = COALESCE(@message, message), result = COALESCE(@Result, result), finished_at = @now
            WHERE id = @Id AND status IN ({(status == "failed" ? "'pending', 'accepted'" : "'pending', 'accepted', 'failed'")})
            """, new { command.Id, status, message = message is { Length: > 500 } ? message[..500] : message, command.Result, now = Now }, ct) == 1;

    public async Task<CommandRow?> FindAsync(string id, CancellationToken ct) =>
        await db.QuerySingleOrDefaultAsync<CommandRow>($"SELECT {CommandRow.Columns} FROM connector_commands WHERE id = @id", new { id }, ct);

    /// <summary>The commands of a connector, newest first, with every attempt; <c>status</c>: pending, accepted, done, refused or failed.</summary>
    public async Task<IReadOnlyList<ConnectorCommandDto>> ListAsync(ConnectorRow connector, string? status, int? limit, CancellationToken ct)
    {
        if (status is not (null or "pending" or "accepted" or "done" or "refused" or "failed"))
            throw ApiException.Invalid("status is pending, accepted, done, refused or failed.");
        return await WithAttemptsAsync(await db.QueryAsync<CommandRow>($"""
            SELECT {CommandRow.Columns} FROM connector_commands WHERE connector_id = @id {(status is null ? "" : "AND status = @status")}
            ORDER BY created_at DESC, id DESC LIMIT @take
            """, new { id = connector.Id, status, take = Math.Clamp(limit ?? 50, 1, 500) }, ct), ct);
    }

    public async Task<ConnectorCommandDto> DtoAsync(string id, CancellationToken ct) =>
        (await WithAttemptsAsync([(await FindAsync(id, ct))!], ct))[0];

    private async Task<IReadOnlyList<ConnectorCommandDto>> WithAttemptsAsync(IReadOnlyList<CommandRow> rows, CancellationToken ct)
    {
        var ids = rows.Select(r => r.Id).ToList();
        var attempts = (await db.QueryAsync<(string CommandId, long At, long Duration, long? Status, string? Error, string? Answer)>($"""
            SELECT command_id, attempted_at, duration_ms, status_code, error, answer FROM connector_command_attempts
            WHERE {db.Dialect.In("command_id", "@ids")} ORDER BY attempted_at, id
            """, new { ids }, ct)).ToLookup(a => a.CommandId);
        return rows.Select(r => r.ToDto(attempts[r.Id].Select(a =>
            new ConnectorCommandAttemptDto(DateTimeOffset.FromUnixTimeMilliseconds(a.At), a.Duration, (int?)a.Status, a.Error, a.Answer)).ToList())).ToList();
    }

    /// <summary>Org admins, and API keys of the organization with <c>work_items:write</c> or <c>connectors:manage</c>.</summary>
    public async Task<CommandRow> CommandAsync(CurrentUser user, string id, CancellationToken ct)
    {
        if (user.IsApiClient && !user.Permissions.Contains(Permissions.WorkItemsWrite) && !user.Permissions.Contains(Permissions.ConnectorsManage))
            throw ApiException.Forbidden("Answering a command takes an API key with work_items:write or connectors:manage.");
        return await access.CommandAsync(user, id, ct);
    }
}

/// <summary>
/// Sends due commands to their systems, on every node: claimed with a lease (the due time pushed past the attempt's
/// timeout; on PostgreSQL <c>SKIP LOCKED</c>), POSTed signed with <c>Idempotency-Key</c> = the command id, and handled
/// by the answer: done (applied, the customer told), accepted (the system answers later through the API), refused (the
/// customer told why, staff alerted), or a failure — retried with backoff for <c>Connectors:CommandRetryPeriod</c>; at
/// the first one the customer hears that it takes longer and staff are alerted; then given up, and both told. An
/// accepted command the system leaves unanswered for <c>Connectors:CommandAnswerPeriod</c> is given up the same way.
/// </summary>
public sealed class CommandDispatcher : BackgroundService
{
    private const int MaxAnswerBytes = 64 * 1024;
    private readonly Db _db;
    private readonly ConnectorCommands _commands;
    private readonly ConnectorHttp _http;
    private readonly WorkItemActions _items;
    private readonly Notifier _notifier;
    private readonly SystemPosts _posts;
    private readonly IOptionsMonitor<ConnectorOptions> _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<CommandDispatcher> _logger;
    private readonly AttemptSlots _slots;
    private readonly string _claimSql;
    private long _unansweredCheckedAt; // unix ms of the last look for overdue answers

    public CommandDispatcher(Db db, ConnectorCommands commands, ConnectorHttp http, WorkItemActions items, Notifier notifier, SystemPosts posts,
        IOptionsMonitor<ConnectorOptions> options, TimeProvider clock, ILogger<CommandDispatcher> logger)
    {
        (_db, _commands, _http, _items, _notifier, _posts, _options, _clock, _logger) = (db, commands, http, items, notifier, posts, options, clock, logger);
        _slots = new AttemptSlots(options.CurrentValue.CommandConcurrency);
        _claimSql = $"""
            UPDATE connector_commands SET next_attempt_at = @leaseUntil
            WHERE id IN (SELECT id FROM connector_commands WHERE status = 'pending' AND next_attempt_at <= @now
                         ORDER BY next_attempt_at LIMIT @take {(db.Dialect.IsPostgres ? "FOR UPDATE SKIP LOCKED" : "")})
              AND status = 'pending' AND next_attempt_at <= @now
            RETURNING {CommandRow.Columns}
            """;
    }

    private long Now => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunDueAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                _logger.LogWarning(e, "Sending connector commands failed; will try again");
            }
            await AttemptSlots.WaitAsync(_commands.Wakes, _options.CurrentValue.LoopInterval, stoppingToken);
        }
        await _slots.DrainAsync();
    }

    private async Task RunDueAsync(CancellationToken ct)
    {
        // Answers are due by the day: a look once a minute is plenty, however often the loop wakes.
        if (Now - _unansweredCheckedAt >= 60_000)
        {
            _unansweredCheckedAt = Now;
            await GiveUpUnansweredAsync(ct);
        }
        while (!ct.IsCancellationRequested && _slots.Free > 0)
        {
            var now = Now;
            // A read first: on SQLite an UPDATE takes the write lock even when it matches nothing.
            if (await _db.QuerySingleOrDefaultAsync<long?>("SELECT 1 FROM connector_commands WHERE status = 'pending' AND next_attempt_at <= @now LIMIT 1", new { now }, ct) is null)
                return;
            var lease = (long)(_options.CurrentValue.CommandTimeout + TimeSpan.FromSeconds(10)).TotalMilliseconds;
            var claimed = await _db.QueryAsync<CommandRow>(_claimSql, new { now, leaseUntil = now + lease, take = _slots.Free }, ct);
            if (claimed.Count == 0)
                return;
            foreach (var command in claimed)
                await _slots.StartAsync(() => AttemptAsync(command), _commands.Wake, ct);
        }
    }

    /// <summary>Accepted commands whose answer is overdue: failed, the customer told, staff alerted — once, on whichever node gets there first.</summary>
    private async Task GiveUpUnansweredAsync(CancellationToken ct)
    {
        var period = _options.CurrentValue.CommandAnswerPeriod;
        var overdue = await _db.QueryAsync<CommandRow>(
            $"SELECT {CommandRow.Columns} FROM connector_commands WHERE status = 'accepted' AND last_attempt_at <= @before ORDER BY last_attempt_at LIMIT 50",
            new { before = Now - (long)period.TotalMilliseconds }, ct);
        foreach (var command in overdue)
        {
            var reason = $"No answer within {period.TotalHours:0.#} h of accepting.";
            if (!await _commands.FinishAsync(command, "failed", reason, ct))
                continue;
            var connector = await ConnectorOfAsync(command, ct);
            if (connector is null)
                continue;
            await TellAsync(command, connector, "failed", null, ct);
            await AlertAsync(command, connector, "command_unanswered", reason, ct);
        }
    }

    /// <summary>The command's connector; null once it is deleted (its commands go with it).</summary>
    private Task<ConnectorRow?> ConnectorOfAsync(CommandRow command, CancellationToken ct) =>
        _db.QuerySingleOrDefaultAsync<ConnectorRow>($"SELECT {ConnectorRow.Columns} FROM connectors WHERE id = @ConnectorId", command, ct);

    private async Task AttemptAsync(CommandRow command)
    {
        try
        {
            var connector = await ConnectorOfAsync(command, CancellationToken.None);
            if (connector is null)
                return; // deleted, with its commands
            var timeout = _options.CurrentValue.CommandTimeout;
            var started = _clock.GetUtcNow();
            var stopwatch = Stopwatch.StartNew();
            int? status = null;
            string? error = null, answer = null;
            if (connector.Active == 0)
                error = "The connector is inactive.";
            else
            {
                try
                {
                    using var timer = new CancellationTokenSource(timeout);
                    using var request = _http.Signed(connector, HttpMethod.Post, connector.UrlOf("commands"), command.Payload, command.Id);
                    request.Headers.Add(IdempotencyFilter.Header, command.Id);
                    using var response = await _http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timer.Token);
                    status = (int)response.StatusCode;
                    answer = await ConnectorHttp.ReadAsync(response, MaxAnswerBytes, timer.Token);
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
                {
                    error = ConnectorHttp.Describe(e, timeout);
                }
            }
            await _db.InTransactionAsync(async (c, t) =>
            {
                await c.ExecuteAsync("""
                    INSERT INTO connector_command_attempts (id, command_id, attempted_at, duration_ms, status_code, error, answer)
                    VALUES (@id, @commandId, @at, @duration, @status, @error, @answer)
                    """, new { id = Ids.New("cma", _clock), commandId = command.Id, at = started.ToUnixTimeMilliseconds(), duration = stopwatch.ElapsedMilliseconds,
                    status, error, answer = answer is { Length: > 2000 } ? answer[..2000] : answer }, t);
                await c.ExecuteAsync("UPDATE connector_commands SET attempts = attempts + 1, last_status = @status, last_attempt_at = @at WHERE id = @id",
                    new { id = command.Id, status, at = started.ToUnixTimeMilliseconds() }, t);
            });
            await HandleAsync(command, connector, status, error, answer);
        }
        catch (Exception e)
        {
            // The command stays leased and is sent again (same key) when the lease ends.
            _logger.LogWarning(e, "Command {CommandId} was not handled; it is sent again after its lease", command.Id);
        }
    }

    private async Task HandleAsync(CommandRow command, ConnectorRow connector, int? status, string? error, string? answer)
    {
        var said = Answer(answer);
        var kind = error is not null ? null
            : status is 409 or 422 || said.Status == "refused" ? "refused"
            : status == 202 || said.Status == "accepted" ? "accepted"
            : status is >= 200 and < 300 ? "done"
            : null;
        command.Result = said.Result;
        switch (kind)
        {
            case "done":
                await DoneAsync(command, connector, CancellationToken.None);
                return;
            case "refused":
                await RefusedAsync(command, connector, said.Message, CancellationToken.None);
                return;
            case "accepted":
                if (await _db.ExecuteAsync("UPDATE connector_commands SET status = 'accepted', last_error = NULL WHERE id = @id AND status = 'pending'",
                        new { id = command.Id }) == 1)
                    await TellAsync(command, connector, "accepted", null, CancellationToken.None);
                return;
        }
        // A failure: a timeout, a 5xx (or another status), a network error. Retried until the period ends, then given up.
        error ??= $"HTTP {status}" + (said.Message is null ? "" : $": {said.Message}");
        var now = Now;
        if (now >= command.RetryUntil)
        {
            await _db.ExecuteAsync("UPDATE connector_commands SET last_error = @error WHERE id = @id", new { id = command.Id, error = Shorten(error) });
            if (await _commands.FinishAsync(command, "failed", error, CancellationToken.None))
            {
                await TellAsync(command, connector, "failed", null, CancellationToken.None);
                await AlertAsync(command, connector, "command_failed", error, CancellationToken.None);
            }
            return;
        }
        var options = _options.CurrentValue;
        var delay = WebhookDispatcher.Backoff(command.Attempts + 1, options.CommandFirstRetryDelay, options.CommandMaxRetryDelay);
        var next = Math.Min(now + (long)delay.TotalMilliseconds, command.RetryUntil);
        await _db.ExecuteAsync("UPDATE connector_commands SET next_attempt_at = @next, last_error = @error WHERE id = @id AND status = 'pending'",
            new { id = command.Id, next, error = Shorten(error) });
        // Told once, at the first failure.
        if (await _db.ExecuteAsync("UPDATE connector_commands SET delay_told = 1 WHERE id = @id AND status = 'pending' AND delay_told = 0", new { id = command.Id }) == 1)
        {
            await TellAsync(command, connector, "delayed", null, CancellationToken.None);
            await AlertAsync(command, connector, "command_delayed", error, CancellationToken.None);
        }
    }

    /// <summary>
    /// The system did it: the customer's action is applied through the customer-action path, in the transaction that
    /// closes the command. If it no longer fits the item (it moved on meanwhile), the command is closed unapplied and
    /// staff are told to look.
    /// </summary>
    public async Task DoneAsync(CommandRow command, ConnectorRow connector, CancellationToken ct)
    {
        var customer = await _db.QuerySingleOrDefaultAsync<CustomerRow>(CustomerRow.SelectById, new { id = command.CustomerId }, ct);
        var principal = new CurrentUser(command.CustomerId, UserKind.Customer, command.OrgId, customer?.Name ?? "", [], new HashSet<string>(), null, null);
        string? problem = null;
        try
        {
            await _items.ActAsync(principal, command.WorkItemId, command.Request, ct, command);
        }
        catch (ApiException e)
        {
            problem = e.Message;
        }
        var after = await _commands.FindAsync(command.Id, ct);
        if (after is { Status: "done", Applied: 1 })
        {
            await TellAsync(command, connector, "done", null, ct);
            return;
        }
        if (await _commands.FinishAsync(command, "done", null, ct))
        {
            await TellAsync(command, connector, "done", null, ct);
            await AlertAsync(command, connector, "command_unapplied", problem ?? "StoreLink had recorded this action already.", ct);
        }
    }

    public async Task RefusedAsync(CommandRow command, ConnectorRow connector, string? message, CancellationToken ct)
    {
        if (!await _commands.FinishAsync(command, "refused", message, ct))
            return;
        await TellAsync(command, connector, "refused", message, ct);
        await AlertAsync(command, connector, "command_refused", message, ct);
    }

    /// <summary>
    /// <c>POST /v1/commands/{id}/result</c>: the system's later answer (after <c>202</c>, or after StoreLink gave up).
    /// A repeat of the answer given is answered the same; the other answer to a finished command is a conflict.
    /// </summary>
    public async Task<ConnectorCommandDto> ResultAsync(CurrentUser user, string id, CommandResultRequest body, CancellationToken ct)
    {
        var command = await _commands.CommandAsync(user, id, ct);
        var v = new Validation();
        if (body.Status is not ("done" or "refused"))
            v.Add("status", "done or refused.");
        var message = v.MaxLength("message", body.Message, 500);
        if (body.Result is { } given)
            v.Shallow("result", given);
        v.ThrowIfAny();
        if (command.Status is "done" or "refused")
            return command.Status == body.Status ? await _commands.DtoAsync(command.Id, ct)
                : throw ApiException.Conflict(Texts.Get(user.Language, "command_settled", ("status", command.Status)));
        var connector = (await ConnectorOfAsync(command, ct))!;
        command.Result = body.Result is { ValueKind: not JsonValueKind.Null } result ? result.GetRawText() : null;
        if (body.Status == "done")
            await DoneAsync(command, connector, ct);
        else
            await RefusedAsync(command, connector, message, ct);
        return await _commands.DtoAsync(command.Id, ct);
    }

    /// <summary>What the system's answer says: <c>status</c>, <c>message</c>, <c>result</c> (an unreadable answer says nothing).</summary>
    private static (string? Status, string? Message, string? Result) Answer(string? body)
    {
        try
        {
            using var document = JsonDocument.Parse(body ?? "");
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return (null, null, null);
            string? Text(string name) => root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
            // A result too large or too deep to keep (see JsonStrings.MaxKeptDepth) is left out, as an unreadable one is.
            var result = root.TryGetProperty("result", out var r) && r.ValueKind != JsonValueKind.Null && JsonStrings.DepthOf(r) <= JsonStrings.MaxKeptDepth ? r.GetRawText() : null;
            return (Text("status"), Text("message") is { } m ? Shorten(m) : null, result is { Length: <= 16_384 } ? result : null);
        }
        catch (JsonException)
        {
            return (null, null, null);
        }
    }

    private static string Shorten(string text) => text.Length > 500 ? text[..500] : text;

    /// <summary>The customer hears of the command in plain words: in English when their language is English, else in Chinese. Once per outcome.</summary>
    private async Task TellAsync(CommandRow command, ConnectorRow connector, string outcome, string? message, CancellationToken ct)
    {
        var item = await _db.QuerySingleOrDefaultAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @WorkItemId", command, ct);
        if (item is null)
            return;
        var address = command.Request.Address is { ValueKind: JsonValueKind.String } a ? a.GetString() : null;
        var key = (outcome, address, message) switch
        {
            ("done", { }, _) => "command_done_address",
            ("refused", _, { }) => "command_refused_reason",
            _ => "command_" + outcome,
        };
        await _posts.PostSystemAsync(await _notifier.ConversationAsync(item, ct), language => Texts.Get(language, key,
            ("system", connector.Name), ("action", command.Label(language)), ("address", address ?? ""), ("reason", message ?? "")), ct, clientMsgId: $"{command.Id}:{outcome}");
    }

    /// <summary>Staff following the item (its assignee and the store's managers too) see the command's trouble on its timeline, pushed live.</summary>
    private async Task AlertAsync(CommandRow command, ConnectorRow connector, string kind, string? reason, CancellationToken ct) =>
        await _items.NoteAsync(connector.Principal(), command.WorkItemId, kind,
            new { command_id = command.Id, type = command.CommandType, action = command.Label(Texts.DefaultLanguage), system = connector.Name, reason, alert = true }, ct);

    public override void Dispose()
    {
        _slots.Dispose();
        base.Dispose();
    }
}
