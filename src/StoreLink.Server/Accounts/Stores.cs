using System.Globalization;
using System.Text.Json;
using StoreLink.Protocol;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

public sealed class StoreRow
{
    private const string Columns = "id, org_id, store_key, name, kind, time_zone, business_hours, created_at, sla_first_response_minutes, sla_resolution_minutes, quiet_start, quiet_end, customer_work_kinds, calls_recording";
    public const string SelectById = $"SELECT {Columns} FROM stores WHERE id = @id";
    public const string SelectByKey = $"SELECT {Columns} FROM stores WHERE store_key = @key";
    public const string SelectByOrg = $"SELECT {Columns} FROM stores WHERE org_id = @orgId ORDER BY created_at, id";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string StoreKey { get; set; } = "";
    public string Name { get; set; } = "";
    public string Kind { get; set; } = "";
    public string TimeZone { get; set; } = "";
    public string BusinessHours { get; set; } = "{}";
    public long CreatedAt { get; set; }
    public int SlaFirstResponseMinutes { get; set; } = 5;
    public int SlaResolutionMinutes { get; set; } = 480;
    public string? QuietStart { get; set; }
    public string? QuietEnd { get; set; }
    public string CustomerWorkKinds { get; set; } = "[]";
    public long CallsRecording { get; set; }

    public IReadOnlyList<string> CustomerWorkKindList => JsonSerializer.Deserialize<List<string>>(CustomerWorkKinds) ?? [];

    public StoreDto ToDto() => new(Id, OrgId, StoreKey, Name, Kind, TimeZone,
        WeeklyHours.Parse(BusinessHours), DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt))
    {
        SlaFirstResponseMinutes = SlaFirstResponseMinutes,
        SlaResolutionMinutes = SlaResolutionMinutes,
        QuietHours = QuietStart is null || QuietEnd is null ? null : new QuietHoursDto(QuietStart, QuietEnd),
        CustomerWorkKinds = CustomerWorkKindList,
        CallsRecording = CallsRecording != 0,
    };
}

/// <summary>
/// A store's weekly opening hours in its own time zone: <c>{"mon":[{"open":"09:00","close":"21:00"}], …}</c>.
/// A day that is missing or empty is closed; <c>close</c> may be <c>24:00</c>; intervals do not cross midnight.
/// </summary>
public static class WeeklyHours
{
    public static readonly string[] Days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    public static IReadOnlyDictionary<string, IReadOnlyList<HoursRange>> Parse(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, List<HoursRange>>>(json, ProtocolJson.Options)!
            .ToDictionary(d => d.Key, d => (IReadOnlyList<HoursRange>)d.Value);

    public static string Serialize(Dictionary<string, List<HoursRange>> hours) =>
        JsonSerializer.Serialize(Days.Where(hours.ContainsKey).ToDictionary(d => d, d => hours[d]), ProtocolJson.Options);

    public static void Validate(Validation v, string field, Dictionary<string, List<HoursRange>> hours)
    {
        foreach (var (day, ranges) in hours)
        {
            if (!Days.Contains(day))
            {
                v.Add($"{field}.{day}", "Days are mon, tue, wed, thu, fri, sat, sun.");
                continue;
            }
            var previousClose = -1;
            foreach (var range in (ranges ?? []).OrderBy(r => Minutes(r?.Open) ?? 0))
            {
                var open = Minutes(range?.Open);
                var close = Minutes(range?.Close);
                if (open is null || close is null || open >= close)
                    v.Add($"{field}.{day}", "Each interval is {\"open\":\"HH:mm\",\"close\":\"HH:mm\"} with open before close.");
                else if (open < previousClose)
                    v.Add($"{field}.{day}", "Intervals of a day must not overlap.");
                else
                    previousClose = close.Value;
            }
        }
    }

    /// <summary>Minutes after midnight of <c>HH:mm</c> (00:00 … 24:00), or null.</summary>
    public static int? Minutes(string? hhmm)
    {
        if (hhmm is null || !TimeOnly.TryParseExact(hhmm, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
            return hhmm == "24:00" ? 24 * 60 : null;
        return time.Hour * 60 + time.Minute;
    }

    public static bool IsTimeZone(string? id) => id is not null && TimeZoneInfo.TryFindSystemTimeZoneById(id, out _);
}
