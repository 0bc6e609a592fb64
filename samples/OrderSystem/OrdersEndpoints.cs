using System.Net;
using System.Text;
using Dapper;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;

namespace OrderSystem;

/// <summary>
/// The order system's own face: a JSON API (<c>/api/orders</c>, for scripts and the tests) and one HTML page for
/// people (<c>/</c>). Like a store's back office on its own network, it has no sign-in of its own in this sample:
/// it listens on localhost only.
/// </summary>
public static class OrdersEndpoints
{
    public static void MapOrders(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/orders");
        api.MapGet("/", async (OrderBook orders) => Results.Ok((await orders.ListAsync()).Select(Dto)));
        api.MapGet("/{orderNo}", async (string orderNo, OrderBook orders) =>
            await orders.GetAsync(orderNo) is { } order ? Results.Ok(Dto(order)) : Results.NotFound());
        api.MapPost("/", async (NewOrder body, OrderBook orders) => await Try(async () =>
        {
            var order = await orders.CreateAsync(body);
            return Results.Created($"/api/orders/{order.OrderNo}", Dto(order));
        }));
        api.MapPost("/{orderNo}/status", async (string orderNo, StatusChange body, OrderBook orders) =>
            await Try(async () => Results.Ok(Dto(await orders.SetStatusAsync(orderNo, body)))));
        app.MapGet("/api/commands", async (Commands commands) => Results.Ok(await commands.ListAsync()));

        // The page and its two forms (antiforgery tokens in each form).
        app.MapGet("/", Page);
        app.MapPost("/ui/orders", async ([FromForm] string customerId, [FromForm] string? customerName, [FromForm] string? phone,
            [FromForm] string title, [FromForm] string? amount, [FromForm] string address, OrderBook orders) =>
        {
            try
            {
                await orders.CreateAsync(new NewOrder(null, new NewCustomer(customerId, customerName, phone, null), title, amount, address, null));
                return Results.Redirect("/");
            }
            catch (OrderException e)
            {
                return Results.Redirect("/?error=" + Uri.EscapeDataString(e.Message));
            }
        });
        app.MapPost("/ui/orders/{orderNo}/status", async (string orderNo, [FromForm] string status, [FromForm] string? trackingNo, OrderBook orders) =>
        {
            try
            {
                await orders.SetStatusAsync(orderNo, new StatusChange(status, trackingNo));
                return Results.Redirect("/");
            }
            catch (OrderException e)
            {
                return Results.Redirect("/?error=" + Uri.EscapeDataString(e.Message));
            }
        });
    }

    private static object Dto(Order o) => new
    {
        order_no = o.OrderNo, customer_id = o.CustomerId, title = o.Title, amount = o.Amount, status = o.Status, address = o.Address,
        phone = o.Phone, tracking_no = o.TrackingNo, store_key = o.StoreKey, version = o.Version,
        created_at = DateTimeOffset.FromUnixTimeMilliseconds(o.CreatedAt), updated_at = DateTimeOffset.FromUnixTimeMilliseconds(o.UpdatedAt),
    };

    private static async Task<IResult> Try(Func<Task<IResult>> work)
    {
        try
        {
            return await work();
        }
        catch (OrderException e)
        {
            return Results.Json(new { error = e.Message }, statusCode: e.Status);
        }
    }

    private static async Task<IResult> Page(HttpContext context, string? error, OrderBook orders, Commands commands, Credentials credentials, Database db, IAntiforgery antiforgery)
    {
        static string H(string? text) => WebUtility.HtmlEncode(text ?? "");
        static string Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToLocalTime().ToString("MM-dd HH:mm:ss");
        var token = antiforgery.GetAndStoreTokens(context);
        var hidden = $"<input type=\"hidden\" name=\"{H(token.FormFieldName)}\" value=\"{H(token.RequestToken)}\">";
        var link = await credentials.CurrentAsync();
        var html = new StringBuilder("""
            <!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>订单系统（StoreLink 示例）</title><style>
            body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222} table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
            td,th{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top} th{background:#f5f5f5}
            input,select,button{font:inherit;padding:.2rem .4rem} .error{color:#b00020} .muted{color:#777} form.inline{display:inline}
            </style></head><body><h1>订单系统 <span class="muted">Order system — a StoreLink integration sample</span></h1>
            """);
        html.Append(link.Connected
            ? $"<p>已连接 StoreLink · connector <code>{H(link.ConnectorId)}</code></p>"
            : "<p class=\"error\">尚未连接 StoreLink：先运行 <code>dotnet run --project samples/OrderSystem -- setup</code>（见 README）。</p>");
        if (error is not null)
            html.Append($"<p class=\"error\">{H(error)}</p>");

        html.Append($"""
            <h2>新订单 New order</h2><form method="post" action="/ui/orders">{hidden}
            <input name="customerId" placeholder="顾客编号 C1002" required> <input name="customerName" placeholder="姓名">
            <input name="phone" placeholder="电话"> <input name="title" placeholder="商品 托特包 ×1" required>
            <input name="amount" placeholder="金额 299.00"> <input name="address" placeholder="收货地址" required size="30">
            <button>创建 Create</button></form>
            <h2>订单 Orders</h2><table><tr><th>订单号</th><th>顾客</th><th>商品</th><th>金额</th><th>收货地址</th><th>状态 Status</th><th>版本</th></tr>
            """);
        foreach (var o in await orders.ListAsync())
        {
            var options = string.Concat(OrderBook.Statuses.Select(s => $"<option value=\"{s.Key}\"{(s.Key == o.Status ? " selected" : "")}>{H(s.Name)} {s.Key}</option>"));
            html.Append($"""
                <tr><td>{H(o.OrderNo)}</td><td>{H(o.CustomerId)}</td><td>{H(o.Title)}</td><td>¥{H(o.Amount)}</td><td>{H(o.Address)}</td>
                <td><form class="inline" method="post" action="/ui/orders/{Uri.EscapeDataString(o.OrderNo)}/status">{hidden}<select name="status">{options}</select>
                <input name="trackingNo" placeholder="运单号" value="{H(o.TrackingNo)}" size="10"> <button>更新 Update</button></form></td><td>{o.Version}</td></tr>
                """);
        }
        html.Append("</table><h2>发往 StoreLink 的事件 Events to StoreLink</h2><table><tr><th>#</th><th>类型</th><th>对象</th><th>状态</th><th>尝试</th><th>StoreLink 的回答</th></tr>");
        await using (var c = await db.OpenAsync())
        {
            foreach (var e in await c.QueryAsync<(long Seq, string Type, string Subject, string Status, long Attempts, string? LastResult)>(
                "SELECT seq, type, subject, status, attempts, last_result FROM events ORDER BY seq DESC LIMIT 30"))
                html.Append($"<tr><td>{e.Seq}</td><td>{H(e.Type)}</td><td>{H(e.Subject)}</td><td>{H(e.Status)}</td><td>{e.Attempts}</td><td class=\"muted\">{H(e.LastResult)}</td></tr>");
            html.Append("</table><h2>来自 StoreLink 的命令 Commands</h2><table><tr><th>收到</th><th>类型</th><th>订单</th><th>结果</th><th>说明</th></tr>");
            foreach (var cmd in await commands.ListAsync())
                html.Append($"<tr><td>{Time(cmd.ReceivedAt)}</td><td>{H(cmd.Type)}</td><td>{H(cmd.OrderNo)}</td><td>{H(cmd.Status)}</td><td>{H(cmd.Message)}</td></tr>");
            html.Append("</table><h2>StoreLink 的 webhook Webhooks received</h2><table><tr><th>收到</th><th>类型</th><th>id</th></tr>");
            foreach (var w in await c.QueryAsync<(string Id, string Type, long ReceivedAt)>("SELECT id, type, received_at FROM storelink_events ORDER BY received_at DESC LIMIT 30"))
                html.Append($"<tr><td>{Time(w.ReceivedAt)}</td><td>{H(w.Type)}</td><td class=\"muted\">{H(w.Id)}</td></tr>");
        }
        html.Append("</table></body></html>");
        return Results.Content(html.ToString(), "text/html; charset=utf-8");
    }
}
