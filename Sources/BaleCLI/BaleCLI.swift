public enum BaleMain { public static func main() {} }
