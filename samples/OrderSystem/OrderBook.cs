using System.Data.Common;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;

namespace OrderSystem;

public sealed class Order
{
    public string OrderNo { get; set; } = "";
    public string CustomerId { get; set; } = "";
    public string Title { get; set; } = "";
    public string Amount { get; set; } = "";
    public string Status { get; set; } = "";
    public string Address { get; set; } = "";
    public string? Phone { get; set; }
    public string? TrackingNo { get; set; }
    public string StoreKey { get; set; } = "";
    public long Version { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
}

public sealed class Customer
{
    public string ExternalId { get; set; } = "";
    public string Name { get; set; } = "";
    public string? Phone { get; set; }
    public long VipLevel { get; set; }
    public long Version { get; set; }
}

public sealed record NewOrder(string? OrderNo, NewCustomer? Customer, string? Title, string? Amount, string? Address, string? StoreKey);
public sealed record NewCustomer(string? ExternalId, string? Name, string? Phone, int? VipLevel);
public sealed record StatusChange(string? Status, string? TrackingNo);

/// <summary>A change the order system refuses, with the words a customer may read.</summary>
public sealed class OrderException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// The order system's business: orders, their status, their address. Every change writes its event for StoreLink
/// into the outbox in the same transaction (with the object's new version), so StoreLink never misses one and never
/// applies an old one over a newer.
/// </summary>
public sealed class OrderBook(Database db, EventPusher pusher, TimeProvider clock, IOptions<OrderSystemOptions> options)
{
    public const string Columns = "order_no, customer_id, title, amount, status, address, phone, tracking_no, store_key, version, created_at, updated_at";

    /// <summary>The statuses of an order here, in the order they come, with their Chinese names.</summary>
    public static readonly IReadOnlyList<(string Key, string Name)> Statuses =
    [
        ("UNPAID", "待支付"), ("PAID", "已支付"), ("PICKING", "配货中"), ("SHIPPED", "已发货"),
        ("SIGNED", "已签收"), ("DONE", "已完成"), ("REFUNDING", "退款中"), ("REFUNDED", "已退款"),
    ];

    /// <summary>Until the parcel leaves, the address may change.</summary>
    public static bool AddressChangeable(string status) => status is "UNPAID" or "PAID" or "PICKING";

    public async Task<IReadOnlyList<Order>> ListAsync()
    {
        await using var c = await db.OpenAsync();
        return (await c.QueryAsync<Order>($"SELECT {Columns} FROM orders ORDER BY created_at DESC, order_no DESC LIMIT 200")).AsList();
    }

    public async Task<Order?> GetAsync(string orderNo)
    {
        await using var c = await db.OpenAsync();
        return await c.QuerySingleOrDefaultAsync<Order>($"SELECT {Columns} FROM orders WHERE order_no = @orderNo", new { orderNo });
    }

    public async Task<Order> CreateAsync(NewOrder request)
    {
        var customerId = request.Customer?.ExternalId?.Trim();
        if (string.IsNullOrEmpty(customerId) || string.IsNullOrWhiteSpace(request.Title) || string.IsNullOrWhiteSpace(request.Address))
            throw new OrderException(400, "customer.external_id, title and address are required.");
        var now = clock.GetUtcNow();
        var order = await db.InTransactionAsync(async (c, t) =>
        {
            var customer = await c.QuerySingleOrDefaultAsync<Customer>(
                "SELECT external_id, name, phone, vip_level, version FROM customers WHERE external_id = @customerId", new { customerId }, t);
            var name = request.Customer!.Name?.Trim() is { Length: > 0 } n ? n : customer?.Name ?? customerId;
            var phone = request.Customer.Phone?.Trim() ?? customer?.Phone;
            var vip = request.Customer.VipLevel ?? (int)(customer?.VipLevel ?? 0);
            var orderNo = request.OrderNo?.Trim() is { Length: > 0 } given ? given
                : $"SO-{now:yyyyMMdd}-{await c.QuerySingleAsync<long>("SELECT COUNT(*) + 1 FROM orders", transaction: t):D4}";
            if (await c.QuerySingleOrDefaultAsync<string>("SELECT order_no FROM orders WHERE order_no = @orderNo", new { orderNo }, t) is not null)
                throw new OrderException(409, $"Order {orderNo} exists already.");
            await c.ExecuteAsync("""
                INSERT INTO customers (external_id, name, phone, vip_level, version, updated_at) VALUES (@customerId, @name, @phone, @vip, 1, @now)
                ON CONFLICT (external_id) DO UPDATE SET name = excluded.name, phone = excluded.phone, vip_level = excluded.vip_level,
                    version = customers.version + 1, updated_at = excluded.updated_at
                """, new { customerId, name, phone, vip, now = now.ToUnixTimeMilliseconds() }, t);
            var created = new Order
            {
                OrderNo = orderNo, CustomerId = customerId, Title = request.Title!.Trim(), Amount = request.Amount?.Trim() is { Length: > 0 } a ? a : "0.00",
                Status = "UNPAID", Address = request.Address!.Trim(), Phone = phone, StoreKey = request.StoreKey?.Trim() is { Length: > 0 } s ? s : options.Value.StoreKey,
                Version = 1, CreatedAt = now.ToUnixTimeMilliseconds(), UpdatedAt = now.ToUnixTimeMilliseconds(),
            };
            await c.ExecuteAsync($"""
                INSERT INTO orders ({Columns}) VALUES (@OrderNo, @CustomerId, @Title, @Amount, @Status, @Address, @Phone, @TrackingNo, @StoreKey, @Version, @CreatedAt, @UpdatedAt)
                """, created, t);
            // The customer first (with the new order among their purchases), then the order.
            await CustomerEventAsync(c, t, customerId, now);
            await OrderEventAsync(c, t, created, now);
            return created;
        });
        pusher.Wake();
        return order;
    }

    public async Task<Order> SetStatusAsync(string orderNo, StatusChange change)
    {
        if (change.Status is null || Statuses.All(s => s.Key != change.Status))
            throw new OrderException(400, $"status is one of {string.Join(", ", Statuses.Select(s => s.Key))}.");
        var order = await ChangeAsync(orderNo, order =>
        {
            order.Status = change.Status;
            if (change.TrackingNo is { Length: > 0 } tracking)
                order.TrackingNo = tracking.Trim();
        });
        return order;
    }

    /// <summary>The customer asked (through StoreLink) for another address: allowed until the parcel has left.</summary>
    public Task<Order> ChangeAddressAsync(string orderNo, string address) => ChangeAsync(orderNo, order =>
    {
        if (!AddressChangeable(order.Status))
            throw new OrderException(409, $"订单{StatusName(order.Status)}，无法修改收货地址。");
        order.Address = address.Trim();
    });

    private async Task<Order> ChangeAsync(string orderNo, Action<Order> change)
    {
        var now = clock.GetUtcNow();
        var order = await db.InTransactionAsync(async (c, t) =>
        {
            var order = await c.QuerySingleOrDefaultAsync<Order>($"SELECT {Columns} FROM orders WHERE order_no = @orderNo", new { orderNo }, t)
                ?? throw new OrderException(404, $"No order {orderNo}.");
            change(order);
            order.Version++;
            order.UpdatedAt = now.ToUnixTimeMilliseconds();
            await c.ExecuteAsync("""
                UPDATE orders SET status = @Status, address = @Address, tracking_no = @TrackingNo, version = @Version, updated_at = @UpdatedAt
                WHERE order_no = @OrderNo
                """, order, t);
            await OrderEventAsync(c, t, order, now);
            return order;
        });
        pusher.Wake();
        return order;
    }

    /// <summary>The answer to StoreLink's profile lookup: the customer and their orders, newest first.</summary>
    public async Task<object?> ProfileAsync(string externalId)
    {
        await using var c = await db.OpenAsync();
        var customer = await c.QuerySingleOrDefaultAsync<Customer>("SELECT external_id, name, phone, vip_level, version FROM customers WHERE external_id = @externalId", new { externalId });
        if (customer is null)
            return null;
        var orders = await c.QueryAsync<Order>($"SELECT {Columns} FROM orders WHERE customer_id = @externalId ORDER BY created_at DESC LIMIT 50", new { externalId });
        return new
        {
            customer = new { name = customer.Name, phone = customer.Phone, vip_level = customer.VipLevel, attributes = new { source = "order-system" } },
            orders = orders.Select(o => new
            {
                order_no = o.OrderNo, item = o.Title, amount = o.Amount, currency = "CNY", status = StatusName(o.Status),
                purchased_at = DateTimeOffset.FromUnixTimeMilliseconds(o.CreatedAt),
            }),
        };
    }

    public static string StatusName(string status) => Statuses.FirstOrDefault(s => s.Key == status).Name ?? status;

    private static async Task OrderEventAsync(DbConnection c, DbTransaction t, Order order, DateTimeOffset now)
    {
        var name = await c.QuerySingleAsync<string>("SELECT name FROM customers WHERE external_id = @id", new { id = order.CustomerId }, t);
        await AddEventAsync(c, t, "order.upserted", order.OrderNo, order.Version, now, new
        {
            external_id = order.OrderNo, status = order.Status, title = order.Title, store_key = order.StoreKey,
            customer = new { external_id = order.CustomerId, name, phone = order.Phone },
            fields = new { receiver_address = order.Address, receiver_phone = order.Phone, tracking_no = order.TrackingNo, amount = order.Amount },
        });
    }

    private static async Task CustomerEventAsync(DbConnection c, DbTransaction t, string externalId, DateTimeOffset now)
    {
        var customer = await c.QuerySingleAsync<Customer>("SELECT external_id, name, phone, vip_level, version FROM customers WHERE external_id = @externalId", new { externalId }, t);
        var orders = await c.QueryAsync<Order>($"SELECT {Columns} FROM orders WHERE customer_id = @externalId ORDER BY created_at DESC LIMIT 50", new { externalId }, t);
        await AddEventAsync(c, t, "customer.upserted", $"customer:{externalId}", customer.Version, now, new
        {
            external_id = customer.ExternalId, name = customer.Name, phone = customer.Phone, vip_level = customer.VipLevel,
            purchases = orders.Select(o => new { order_no = o.OrderNo, item = o.Title, amount = o.Amount, currency = "CNY", purchased_at = DateTimeOffset.FromUnixTimeMilliseconds(o.CreatedAt) }),
        });
    }

    private static Task AddEventAsync(DbConnection c, DbTransaction t, string type, string subject, long version, DateTimeOffset now, object data)
    {
        var id = "os_" + Guid.NewGuid().ToString("N");
        var body = JsonSerializer.Serialize(new { id, type, occurred_at = now, version, data }, ProtocolJson.Options);
        return c.ExecuteAsync("INSERT INTO events (id, type, subject, body, created_at) VALUES (@id, @type, @subject, @body, @now)",
            new { id, type, subject, body, now = now.ToUnixTimeMilliseconds() }, t);
    }
}
