using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Client;

namespace OrderSystem;

public sealed class CommandRow
{
    public string Id { get; set; } = "";
    public string Type { get; set; } = "";
    public string? OrderNo { get; set; }
    public string Data { get; set; } = "";
    public string Status { get; set; } = "";
    public string? Message { get; set; }
    public string? Result { get; set; }
    public long Later { get; set; }
    public long ReceivedAt { get; set; }
    public long? DecidedAt { get; set; }
    public long? ReportedAt { get; set; }
}

/// <summary>
/// Commands StoreLink sends on a customer's behalf (<c>POST {base_url}/commands</c>). Each command id is carried out
/// once: a retry gets the answer stored with it. With <see cref="OrderSystemOptions.AnswerCommandsLater"/> the system
/// answers <c>202</c>, works on it, and reports the outcome through <c>POST /v1/commands/{id}/result</c>.
/// </summary>
public sealed class Commands(Database db, OrderBook orders, Credentials credentials, IHttpClientFactory http, TimeProvider clock,
    IOptions<OrderSystemOptions> options, ILogger<Commands> logger) : BackgroundService
{
    private const string Columns = "id, type, order_no, data, status, message, result, later, received_at, decided_at, reported_at";

    // One process: commands are decided one at a time, so two deliveries of one id cannot both carry it out.
    private readonly SemaphoreSlim _one = new(1, 1);

    public async Task<IReadOnlyList<CommandRow>> ListAsync()
    {
        await using var c = await db.OpenAsync();
        return (await c.QueryAsync<CommandRow>($"SELECT {Columns} FROM commands ORDER BY received_at DESC LIMIT 100")).AsList();
    }

    /// <summary>Receives a command and answers as docs/integration.md "Commands" says.</summary>
    public async Task<IResult> ReceiveAsync(JsonElement command)
    {
        if (command.ValueKind != JsonValueKind.Object || Text(command, "id") is not { Length: > 0 and <= 100 } id || Text(command, "type") is not { } type)
            return Results.BadRequest(new { status = "refused", message = "A command has an id and a type." });
        var orderNo = command.TryGetProperty("work_item", out var item) && item.ValueKind == JsonValueKind.Object ? Text(item, "external_id") : null;
        var data = command.TryGetProperty("data", out var d) ? d.GetRawText() : "{}";
        await _one.WaitAsync();
        try
        {
            await using (var c = await db.OpenAsync())
                if (await c.QuerySingleOrDefaultAsync<CommandRow>($"SELECT {Columns} FROM commands WHERE id = @id", new { id }) is { } known)
                    return Answer(known);
            var row = new CommandRow
            {
                Id = id, Type = type, OrderNo = orderNo, Data = data, Status = "accepted", Later = options.Value.AnswerCommandsLater ? 1 : 0,
                ReceivedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
            };
            if (row.Later == 0)
                await DecideAsync(row);
            await using (var c = await db.OpenAsync())
                await c.ExecuteAsync($"""
                    INSERT INTO commands ({Columns}) VALUES (@Id, @Type, @OrderNo, @Data, @Status, @Message, @Result, @Later, @ReceivedAt, @DecidedAt, @ReportedAt)
                    """, row);
            return Answer(row);
        }
        finally
        {
            _one.Release();
        }
    }

    private static IResult Answer(CommandRow row) => row.Status switch
    {
        "done" => Results.Ok(new { status = "done", result = row.Result is null ? (JsonElement?)null : JsonDocument.Parse(row.Result).RootElement }),
        "refused" => Results.Conflict(new { status = "refused", message = row.Message }),
        _ => Results.Accepted(value: new { status = "accepted" }),
    };

    private async Task DecideAsync(CommandRow row)
    {
        try
        {
            var data = JsonDocument.Parse(row.Data).RootElement;
            switch (row.Type)
            {
                case "work_item.change_address" when row.OrderNo is not null && data.ValueKind == JsonValueKind.Object && Text(data, "address") is { Length: > 0 } address:
                    var order = await orders.ChangeAddressAsync(row.OrderNo, address);
                    row.Status = "done";
                    row.Result = JsonSerializer.Serialize(new { order_no = order.OrderNo, address = order.Address, version = order.Version });
                    break;
                case "work_item.change_address":
                    (row.Status, row.Message) = ("refused", "缺少订单号或新地址。");
                    break;
                default:
                    (row.Status, row.Message) = ("refused", $"订单系统不处理这类请求（{row.Type}）。");
                    break;
            }
        }
        catch (OrderException e)
        {
            (row.Status, row.Message) = ("refused", e.Message);
        }
        row.DecidedAt = clock.GetUtcNow().ToUnixTimeMilliseconds();
    }

    /// <summary>Commands answered with 202: decided after <see cref="OrderSystemOptions.CommandDelay"/>, then reported to StoreLink until it takes the report.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ReportDueAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Reporting command results failed; trying again");
            }
            await Task.Delay(options.Value.PollInterval, clock, stoppingToken);
        }
    }

    public async Task<int> ReportDueAsync(CancellationToken ct)
    {
        var ready = clock.GetUtcNow().ToUnixTimeMilliseconds() - (long)options.Value.CommandDelay.TotalMilliseconds;
        List<CommandRow> due;
        await using (var c = await db.OpenAsync(ct))
            due = (await c.QueryAsync<CommandRow>($"SELECT {Columns} FROM commands WHERE later = 1 AND reported_at IS NULL AND received_at <= @ready ORDER BY received_at",
                new { ready })).AsList();
        var link = await credentials.CurrentAsync();
        var reported = 0;
        foreach (var row in due)
        {
            await _one.WaitAsync(ct);
            try
            {
                if (row.Status == "accepted")
                {
                    await DecideAsync(row);
                    await using var c = await db.OpenAsync(ct);
                    await c.ExecuteAsync("UPDATE commands SET status = @Status, message = @Message, result = @Result, decided_at = @DecidedAt WHERE id = @Id", row);
                }
            }
            finally
            {
                _one.Release();
            }
            if (link.ApiKey is null)
                continue;
            try
            {
                using var client = new StoreLinkClient(http.CreateClient("storelink"));
                client.UseToken(link.ApiKey);
                await client.PostAsync<JsonElement>($"/v1/commands/{Uri.EscapeDataString(row.Id)}/result", new
                {
                    status = row.Status, message = row.Message, result = row.Result is null ? (JsonElement?)null : JsonDocument.Parse(row.Result).RootElement,
                }, ct);
                await using var c = await db.OpenAsync(ct);
                await c.ExecuteAsync("UPDATE commands SET reported_at = @now WHERE id = @id", new { now = clock.GetUtcNow().ToUnixTimeMilliseconds(), id = row.Id });
                reported++;
            }
            catch (StoreLinkException e) when (e.Status is >= 400 and < 500 and not 429)
            {
                // StoreLink will never take this report (say the command was settled otherwise): stop sending it.
                logger.LogWarning("StoreLink refused the result of command {Command}: {Code} {Error}", row.Id, e.Code, e.Message);
                await using var c = await db.OpenAsync(ct);
                await c.ExecuteAsync("UPDATE commands SET reported_at = @now WHERE id = @id", new { now = clock.GetUtcNow().ToUnixTimeMilliseconds(), id = row.Id });
            }
            catch (Exception e) when (e is HttpRequestException or StoreLinkException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                logger.LogInformation("StoreLink did not take the result of command {Command} ({Error}); trying again", row.Id, e.Message);
            }
        }
        return reported;
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
